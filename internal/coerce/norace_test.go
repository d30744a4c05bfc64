//go:build !race

package coerce_test

const raceEnabled = false
