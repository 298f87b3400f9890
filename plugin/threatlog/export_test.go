package threatlog

import (
	"time"

	"github.com/threatstop/threatstop/plugin/pkg/alert"
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

// SetAlertTiming shortens the silent-device watch, the infected check's interval and the webhook
// backoff for tests, until restore is called.
func SetAlertTiming(tick, infected, backoff time.Duration) (restore func()) {
	t0, i0, b0 := alertTick, infectedEvery, alert.FirstBackoff
	alertTick, infectedEvery, alert.FirstBackoff = tick, infected, backoff
	return func() { alertTick, infectedEvery, alert.FirstBackoff = t0, i0, b0 }
}
