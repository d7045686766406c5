package features

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseDuration reads a duration as Kairos's configuration files and flags
// write it: a whole number of days ("7d") or a Go duration ("30m", "24h",
// "1h30m", "0"). Negative durations are refused.
func ParseDuration(s string) (time.Duration, error) {
	const day = 24 * time.Hour
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseUint(n, 10, 64)
		if err != nil || days > uint64(math.MaxInt64/int64(day)) {
			return 0, fmt.Errorf("%q is not a duration: write a whole number of days such as 7d, or hours or minutes such as 72h or 30m", s)
		}
		return time.Duration(days) * day, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: write it like 30m, 24h or 7d", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return d, nil
}

// FormatDuration writes a duration as ParseDuration reads it: whole days
// as days ("1d", "7d"), else hours, minutes and seconds without zero units
// ("36h", "1h30m", "90s", "0").
func FormatDuration(d time.Duration) string {
	const day = 24 * time.Hour
	if d > 0 && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	if d == 0 {
		return "0"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
