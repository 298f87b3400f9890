//go:build !race

package threatlog_test

const raceEnabled = false
