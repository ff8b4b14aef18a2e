package schema

import (
	"bytes"
	"math"
	"strconv"
	"time"
)

// NUMERIC limits: BigQuery's NUMERIC is a decimal(38, 9).
const (
	numericIntDigits  = 29
	numericFracDigits = 9
)

// appendInt64 appends the canonical form of an optionally signed decimal integer.
func appendInt64(dst, b []byte) ([]byte, int64, bool) {
	i, neg := 0, false
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		neg, i = b[0] == '-', 1
	}
	if i == len(b) {
		return dst, 0, false
	}
	var u uint64
	for ; i < len(b); i++ {
		c := b[i] - '0'
		if c > 9 {
			return dst, 0, false
		}
		if u > (math.MaxUint64-9)/10 {
			return dst, 0, false
		}
		u = u*10 + uint64(c)
		if u > 1<<63 {
			return dst, 0, false
		}
	}
	if !neg && u == 1<<63 {
		return dst, 0, false
	}
	v := int64(u)
	if neg {
		v = -v
	}
	if canonical := b[0] != '+' && b[0] != '0' && !(neg && b[1] == '0'); canonical || len(b) == 1 {
		return append(dst, b...), v, true // already canonical: "0", "42", "-7"
	}
	return strconv.AppendInt(dst, v, 10), v, true
}

// appendFloat64 appends the shortest form of a finite decimal float
// (digits, sign, point, exponent only: no hex, inf or nan).
func appendFloat64(dst, b []byte) ([]byte, float64, bool) {
	if len(b) == 0 {
		return dst, 0, false
	}
	for _, c := range b {
		if (c < '0' || c > '9') && c != '.' && c != '-' && c != '+' && c != 'e' && c != 'E' {
			return dst, 0, false
		}
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return dst, 0, false
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64), f, true
}

// numericError says why a value is not a NUMERIC.
type numericError string

const (
	numOK         numericError = ""
	numSyntax     numericError = "is not a decimal number"
	numIntDigits  numericError = "has more than 29 integer digits"
	numFracDigits numericError = "has more than 9 fractional digits"
)

// appendNumeric appends a plain decimal in canonical form: no "+", no leading
// or trailing zeros, "0" for zero, no point when there is no fraction.
func appendNumeric(dst, b []byte) ([]byte, numericError) {
	i, neg := 0, false
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		neg, i = b[0] == '-', 1
	}
	intStart := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	ip := b[intStart:i]
	var fp []byte
	if i < len(b) && b[i] == '.' {
		i++
		fs := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		fp = b[fs:i]
	}
	if i != len(b) || len(ip) == 0 && len(fp) == 0 {
		return dst, numSyntax
	}
	for len(ip) > 0 && ip[0] == '0' {
		ip = ip[1:]
	}
	for len(fp) > 0 && fp[len(fp)-1] == '0' {
		fp = fp[:len(fp)-1]
	}
	switch {
	case len(ip) > numericIntDigits:
		return dst, numIntDigits
	case len(fp) > numericFracDigits:
		return dst, numFracDigits
	}
	if neg && (len(ip) > 0 || len(fp) > 0) {
		dst = append(dst, '-')
	}
	if len(ip) == 0 {
		dst = append(dst, '0')
	}
	dst = append(dst, ip...)
	if len(fp) > 0 {
		dst = append(dst, '.')
		dst = append(dst, fp...)
	}
	return dst, numOK
}

// compareNumeric orders two canonical NUMERIC values.
func compareNumeric(a, b []byte) int {
	an, bn := len(a) > 0 && a[0] == '-', len(b) > 0 && b[0] == '-'
	switch {
	case an && !bn:
		return -1
	case !an && bn:
		return 1
	case an:
		return -compareAbs(a[1:], b[1:])
	}
	return compareAbs(a, b)
}

func compareAbs(a, b []byte) int {
	ai, bi := bytes.IndexByte(a, '.'), bytes.IndexByte(b, '.')
	if ai < 0 {
		ai = len(a)
	}
	if bi < 0 {
		bi = len(b)
	}
	if ai != bi {
		if ai < bi {
			return -1
		}
		return 1
	}
	return bytes.Compare(a, b)
}

// appendDate appends YYYY-MM-DD.
func appendDate(dst []byte, year, month, day int) []byte {
	return append(dst,
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+month/10), byte('0'+month%10), '-',
		byte('0'+day/10), byte('0'+day%10))
}

// appendClock appends HH:MM:SS[.ffffff] (fraction without trailing zeros).
func appendClock(dst []byte, hour, minute, second, micros int) []byte {
	dst = append(dst,
		byte('0'+hour/10), byte('0'+hour%10), ':',
		byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+second/10), byte('0'+second%10))
	if micros == 0 {
		return dst
	}
	var f [7]byte
	f[0] = '.'
	for k := 6; k >= 1; k-- {
		f[k] = byte('0' + micros%10)
		micros /= 10
	}
	n := 7
	for f[n-1] == '0' {
		n--
	}
	return append(dst, f[:n]...)
}

// micros is c's fraction in microseconds; ok is false when it is finer.
func (c *civil) micros() (int, bool) {
	return c.nanos / 1000, c.nanos%1000 == 0
}

// appendDateTime appends c as "YYYY-MM-DD HH:MM:SS[.ffffff]".
func appendDateTime(dst []byte, c civil, us int) []byte {
	dst = appendDate(dst, c.year, c.month, c.day)
	dst = append(dst, ' ')
	return appendClock(dst, c.hour, c.minute, c.second, us)
}

// appendTimestamp converts c to UTC (using its offset, else loc) and appends
// "YYYY-MM-DD HH:MM:SS[.ffffff] UTC". ok is false when the instant leaves
// years 0001-9999.
func appendTimestamp(dst []byte, c civil, us int, loc *time.Location) ([]byte, bool) {
	var t time.Time
	if c.hasOffset {
		t = time.Date(c.year, time.Month(c.month), c.day, c.hour, c.minute, c.second, 0, time.UTC).
			Add(-time.Duration(c.offset) * time.Second)
	} else {
		t = time.Date(c.year, time.Month(c.month), c.day, c.hour, c.minute, c.second, 0, loc).UTC()
	}
	y, m, d := t.Date()
	if y < 1 || y > 9999 {
		return dst, false
	}
	h, mi, s := t.Clock()
	dst = appendDate(dst, y, int(m), d)
	dst = append(dst, ' ')
	dst = appendClock(dst, h, mi, s, us)
	return append(dst, " UTC"...), true
}

// isSpace reports an ASCII whitespace byte.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'
}

// trimSpace strips ASCII whitespace and U+3000 (ideographic space) from both ends.
func trimSpace(b []byte) []byte {
	for {
		switch {
		case len(b) > 0 && isSpace(b[0]):
			b = b[1:]
		case len(b) >= 3 && b[0] == 0xE3 && b[1] == 0x80 && b[2] == 0x80:
			b = b[3:]
		default:
			goto right
		}
	}
right:
	for {
		n := len(b)
		switch {
		case n > 0 && isSpace(b[n-1]):
			b = b[:n-1]
		case n >= 3 && b[n-3] == 0xE3 && b[n-2] == 0x80 && b[n-1] == 0x80:
			b = b[:n-3]
		default:
			return b
		}
	}
}

// equalFoldASCII compares ignoring ASCII case.
func equalFoldASCII(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x|0x20 >= 'a' && x|0x20 <= 'z' {
			x |= 0x20
		}
		if y|0x20 >= 'a' && y|0x20 <= 'z' {
			y |= 0x20
		}
		if x != y {
			return false
		}
	}
	return true
}
