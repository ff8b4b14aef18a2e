package bqemu

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

var (
	errUnparsable = errors.New("Unable to parse")

	datePattern      = regexp.MustCompile(`^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$`)
	timePattern      = regexp.MustCompile(`^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?$`)
	dateTimePattern  = regexp.MustCompile(`^(\d{4}[-/]\d{1,2}[-/]\d{1,2})(?:[ T](\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?))?$`)
	timestampPattern = regexp.MustCompile(`^(\d{4}[-/]\d{1,2}[-/]\d{1,2})(?:[ T](\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?))?\s*(Z|UTC|[+-]\d{1,2}(?::?\d{2})?)?$`)
	numericPattern   = regexp.MustCompile(`^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$`)
)

// CSV text shapes the load page documents
// (https://cloud.google.com/bigquery/docs/loading-data-cloud-storage-csv):
// DATE only YYYY-MM-DD, DATETIME "YYYY-MM-DD HH:MM:SS[.SSSSSS]", TIME
// "HH:MM:SS[.SSSSSS]", and a TIMESTAMP must have a time portion. SQL
// literals keep the looser forms parseValue accepts.
var (
	csvDatePattern     = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	csvDateTimePattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?$`)
	csvTimePattern     = regexp.MustCompile(`^\d{2}:\d{2}:\d{2}(\.\d{1,6})?$`)
	csvTimestampTime   = regexp.MustCompile(`^\s*\d{4}[-/]\d{1,2}[-/]\d{1,2}[ T]\d{1,2}:\d{2}`)
)

// parseCSVValue is parseValue for a value read from a CSV load: it first
// refuses the shapes the CSV loading page rules out.
func parseCSVValue(typ, s string) (string, error) {
	var shape *regexp.Regexp
	switch typ {
	case "DATE":
		shape = csvDatePattern
	case "DATETIME":
		shape = csvDateTimePattern
	case "TIME":
		shape = csvTimePattern
	case "TIMESTAMP":
		shape = csvTimestampTime
	}
	if shape != nil && !shape.MatchString(s) {
		return "", errUnparsable
	}
	return parseValue(typ, s)
}

// parseValue converts a CSV or SQL text value to its canonical stored form
// for a (canonical) column type.
func parseValue(typ, s string) (string, error) {
	switch typ {
	case "STRING":
		if !utf8.ValidString(s) {
			return "", errors.New("Invalid UTF-8")
		}
		return s, nil
	case "BYTES":
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return "", errUnparsable
		}
		return base64.StdEncoding.EncodeToString(b), nil
	case "INTEGER":
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return "", errUnparsable
		}
		return strconv.FormatInt(n, 10), nil
	case "FLOAT":
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return "", errUnparsable
		}
		return strconv.FormatFloat(f, 'g', -1, 64), nil
	case "NUMERIC":
		return parseNumeric(s)
	case "BOOLEAN":
		switch strings.ToLower(s) {
		case "true", "t", "yes", "y", "1":
			return "true", nil
		case "false", "f", "no", "n", "0":
			return "false", nil
		}
		return "", errUnparsable
	case "DATE":
		d, err := parseDate(s)
		if err != nil {
			return "", err
		}
		return d.Format("2006-01-02"), nil
	case "TIME":
		d, err := parseClock(s)
		if err != nil {
			return "", err
		}
		return formatClock(d), nil
	case "DATETIME":
		t, err := parseDateTime(s)
		if err != nil {
			return "", err
		}
		return formatDateTime(t), nil
	case "TIMESTAMP":
		t, err := parseTimestamp(s)
		if err != nil {
			return "", err
		}
		return strconv.FormatInt(t.UnixMicro(), 10), nil
	}
	return "", fmt.Errorf("type %s: %w", typ, errUnparsable)
}

// parseNumeric accepts NUMERIC(38, 9) values, rounding extra fraction digits
// half away from zero as BigQuery does.
func parseNumeric(s string) (string, error) {
	if !numericPattern.MatchString(s) {
		return "", errUnparsable
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return "", errUnparsable
	}
	text := r.FloatString(9)
	if strings.Contains(text, ".") {
		text = strings.TrimRight(strings.TrimRight(text, "0"), ".")
	}
	intDigits := strings.TrimLeft(strings.SplitN(text, ".", 2)[0], "-")
	if len(intDigits) > 29 {
		return "", errors.New("Invalid NUMERIC value: out of range")
	}
	if text == "-0" {
		text = "0"
	}
	return text, nil
}

func parseDate(s string) (time.Time, error) {
	m := datePattern.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, errUnparsable
	}
	y, _ := strconv.Atoi(m[1])
	mo, _ := strconv.Atoi(m[2])
	d, _ := strconv.Atoi(m[3])
	t := time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC)
	if y < 1 || t.Day() != d || int(t.Month()) != mo {
		return time.Time{}, errUnparsable
	}
	return t, nil
}

// parseClock parses HH:MM[:SS[.ffffff]] into a duration since midnight.
func parseClock(s string) (time.Duration, error) {
	m := timePattern.FindStringSubmatch(s)
	if m == nil {
		return 0, errUnparsable
	}
	h, _ := strconv.Atoi(m[1])
	mi, _ := strconv.Atoi(m[2])
	sec := 0
	if m[3] != "" {
		sec, _ = strconv.Atoi(m[3])
	}
	micros := 0
	if m[4] != "" {
		micros, _ = strconv.Atoi((m[4] + "00000")[:6])
	}
	if h > 23 || mi > 59 || sec > 59 {
		return 0, errUnparsable
	}
	return time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute + time.Duration(sec)*time.Second + time.Duration(micros)*time.Microsecond, nil
}

func formatClock(d time.Duration) string {
	t := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Add(d)
	return t.Format("15:04:05.999999")
}

func parseDateTime(s string) (time.Time, error) {
	m := dateTimePattern.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, errUnparsable
	}
	return combineDateClock(m[1], m[2])
}

func combineDateClock(date, clock string) (time.Time, error) {
	d, err := parseDate(date)
	if err != nil {
		return time.Time{}, err
	}
	if clock == "" {
		return d, nil
	}
	c, err := parseClock(clock)
	if err != nil {
		return time.Time{}, err
	}
	return d.Add(c), nil
}

func formatDateTime(t time.Time) string { return t.Format("2006-01-02T15:04:05.999999") }

// parseTimestamp accepts BigQuery's canonical timestamp text: a date, an
// optional time and an optional UTC offset (default UTC).
func parseTimestamp(s string) (time.Time, error) {
	m := timestampPattern.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return time.Time{}, errUnparsable
	}
	t, err := combineDateClock(m[1], m[2])
	if err != nil {
		return time.Time{}, err
	}
	zone := m[3]
	if zone == "" || zone == "Z" || zone == "UTC" {
		return t, nil
	}
	sign := 1
	if zone[0] == '-' {
		sign = -1
	}
	digits := strings.ReplaceAll(zone[1:], ":", "")
	var hh, mm int
	switch len(digits) {
	case 1, 2:
		hh, _ = strconv.Atoi(digits)
	case 3, 4:
		hh, _ = strconv.Atoi(digits[:len(digits)-2])
		mm, _ = strconv.Atoi(digits[len(digits)-2:])
	default:
		return time.Time{}, errUnparsable
	}
	if hh > 14 || mm > 59 {
		return time.Time{}, errUnparsable
	}
	offset := time.Duration(sign) * (time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute)
	return t.Add(-offset), nil
}

// wireValue renders a stored value for tabledata.list and query results.
// TIMESTAMPs are int64 microseconds when useInt64 is set, otherwise
// floating-point seconds in BigQuery's E-notation.
func wireValue(typ string, c cell, useInt64 bool) any {
	if c.null {
		return nil
	}
	if typ != "TIMESTAMP" || useInt64 {
		return c.v
	}
	us, err := strconv.ParseInt(c.v, 10, 64)
	if err != nil {
		return c.v
	}
	f := strconv.FormatFloat(float64(us)/1e6, 'E', -1, 64)
	mant, exp, _ := strings.Cut(f, "E")
	n, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(n)
}

// partitionOfValue is the DAY partition (YYYYMMDD) holding a stored value of
// a DATE, DATETIME or TIMESTAMP partitioning column.
func partitionOfValue(typ string, c cell) string {
	if c.null {
		return nullPartition
	}
	switch typ {
	case "DATE":
		return strings.ReplaceAll(c.v, "-", "")
	case "DATETIME":
		return strings.ReplaceAll(c.v[:10], "-", "")
	case "TIMESTAMP":
		us, _ := strconv.ParseInt(c.v, 10, 64)
		return time.UnixMicro(us).UTC().Format("20060102")
	}
	return nullPartition
}

const nullPartition = "__NULL__"
