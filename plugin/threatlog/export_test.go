package threatlog

import "time"

// SetClock makes the plugin read the time from f until restore is called.
func SetClock(f func() time.Time) (restore func()) {
	clockFn.Store(&f)
	return func() { clockFn.Store(nil) }
}

// UploadsReceiving is how many uploads past the header check are receiving their body or hold a slot.
func UploadsReceiving() int { return int(receiving.Load()) + len(uploadSlots) }
