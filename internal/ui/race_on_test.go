//go:build race

package ui_test

// raceDetector: the race detector slows the pure-Go SQLite about
// fiftyfold, so timings mean nothing and the large repository is smaller.
const raceDetector = true
