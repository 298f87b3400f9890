//go:build race

package threatlog_test

const raceEnabled = true
