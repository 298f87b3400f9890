package threatlog

import "time"

// SetClock makes the plugin read the time from f until restore is called.
func SetClock(f func() time.Time) (restore func()) {
	clockFn.Store(&f)
	return func() { clockFn.Store(nil) }
}
