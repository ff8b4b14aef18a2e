package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// parseWhen reads an instant for --since: a date (2026-04-26 or 20260426,
// midnight UTC), an RFC 3339 time, or an age before now (36h, 7d).
func parseWhen(s string, now time.Time) (time.Time, error) {
	if d, err := parseDate(s); err == nil {
		return d, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if days, err := strconv.Atoi(n); err == nil && days >= 0 {
			return now.Add(-time.Duration(days) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q: want a date (2026-04-26), an RFC 3339 time or an age (36h, 7d)", s)
}

// parseDate reads 2026-04-26 or 20260426 as midnight UTC.
func parseDate(s string) (time.Time, error) {
	for _, layout := range []string{time.DateOnly, "20060102"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q: want a date, 2026-04-26 or 20260426", s)
}
