//go:build !race

package lgbm

const raceEnabled = false
