//go:build race

package avro

// raceEnabled: the race detector slows decoding by an order of magnitude,
// so timing assertions are skipped under it.
const raceEnabled = true
