//go:build race

package retention

// raceDetector: the race detector slows this evaluation about 25 times, so
// time limits are checked only without it (make test runs -race; the
// benchmark and go test without -race hold the limit).
const raceDetector = true
