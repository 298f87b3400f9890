package threatlog

import (
	"time"

	"github.com/threatstop/threatstop/plugin/pkg/sensor"
)

// SetClock makes the plugin read the time from f until restore is called.
func SetClock(f func() time.Time) (restore func()) {
	clockFn.Store(&f)
	return func() { clockFn.Store(nil) }
}

// UploadsReceiving is how many uploads past the header check are receiving their body or hold a slot.
func UploadsReceiving() int { return int(receiving.Load()) + len(uploadSlots) }

// UseSensorTable makes the plugin report to tbl until restore is called: a fresh table is what a process
// restart starts with, so start-up reads the window back from the database into it.
func UseSensorTable(tbl *sensor.Table) (restore func()) {
	back := sensor.UseShared(tbl)
	return func() {
		back()
		forgetRebuilt(tbl)
	}
}
