package schema

import (
	"fmt"
	"strings"
)

// A Layout is a compiled strftime-like input format of a date or time column.
//
// Directives (everything else matches literally; "%%" is a percent sign):
//
//	%Y  year, 4 digits
//	%m  month, 1-2 digits      %d  day, 1-2 digits
//	%H  hour 0-23, 1-2 digits  %M  minute, 1-2 digits
//	%S  second, 1-2 digits, optionally followed by .fraction (1-9 digits)
//	%z  UTC offset: Z, UTC, +09:00, +0900 or +09 (TIMESTAMP only)
//
// Numeric directives read greedily up to their width, so "%Y%m%d" reads
// "20260405" and "%Y/%m/%d" reads "2026/4/5".
type Layout struct {
	src   string
	items []item
	has   [128]bool
}

type item struct {
	verb byte   // 0 for a literal
	lit  string // the literal text
}

// ParseLayout compiles a strftime-like layout.
func ParseLayout(s string) (*Layout, error) {
	l := &Layout{src: s}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			l.items = append(l.items, item{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			lit.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return nil, fmt.Errorf("layout %q ends with a lone %%", s)
		}
		i++
		switch v := s[i]; v {
		case '%':
			lit.WriteByte('%')
		case 'Y', 'm', 'd', 'H', 'M', 'S', 'z':
			if l.has[v] {
				return nil, fmt.Errorf("layout %q repeats %%%c", s, v)
			}
			flush()
			l.items = append(l.items, item{verb: v})
			l.has[v] = true
		default:
			return nil, fmt.Errorf("layout %q: unknown directive %%%c (want %%Y %%m %%d %%H %%M %%S %%z)", s, v)
		}
	}
	flush()
	if !l.has['Y'] || !l.has['m'] || !l.has['d'] {
		return nil, fmt.Errorf("layout %q needs %%Y, %%m and %%d", s)
	}
	if l.has['S'] && !l.has['M'] || l.has['M'] && !l.has['H'] {
		return nil, fmt.Errorf("layout %q: %%S needs %%M and %%M needs %%H", s)
	}
	return l, nil
}

// String is the layout as written.
func (l *Layout) String() string { return l.src }

// HasTime reports whether the layout reads a time of day.
func (l *Layout) HasTime() bool { return l.has['H'] }

// HasZone reports whether the layout reads a UTC offset.
func (l *Layout) HasZone() bool { return l.has['z'] }

// civil is a parsed date and time; fields not in a layout are zero.
type civil struct {
	year, month, day     int
	hour, minute, second int
	nanos                int
	fracDigits           int  // digits of the fraction as written
	offset               int  // seconds east of UTC
	hasOffset            bool // %z was read
}

// parse reads b as the whole layout. It checks syntax only; see civil.valid.
func (l *Layout) parse(b []byte) (civil, bool) {
	var c civil
	i := 0
	for _, it := range l.items {
		if it.verb == 0 {
			if len(b)-i < len(it.lit) || string(b[i:i+len(it.lit)]) != it.lit {
				return c, false
			}
			i += len(it.lit)
			continue
		}
		var ok bool
		switch it.verb {
		case 'Y':
			c.year, i, ok = digits(b, i, 4, 4)
		case 'm':
			c.month, i, ok = digits(b, i, 1, 2)
		case 'd':
			c.day, i, ok = digits(b, i, 1, 2)
		case 'H':
			c.hour, i, ok = digits(b, i, 1, 2)
		case 'M':
			c.minute, i, ok = digits(b, i, 1, 2)
		case 'S':
			c.second, i, ok = digits(b, i, 1, 2)
			if ok && i < len(b) && b[i] == '.' {
				i, ok = c.fraction(b, i+1)
			}
		case 'z':
			i, ok = c.zone(b, i)
		}
		if !ok {
			return c, false
		}
	}
	return c, i == len(b)
}

// fraction reads 1-9 fractional-second digits at b[i:].
func (c *civil) fraction(b []byte, i int) (int, bool) {
	start := i
	for i < len(b) && i-start < 9 && b[i] >= '0' && b[i] <= '9' {
		c.nanos = c.nanos*10 + int(b[i]-'0')
		i++
	}
	c.fracDigits = i - start
	if c.fracDigits == 0 || i < len(b) && b[i] >= '0' && b[i] <= '9' {
		return i, false
	}
	for k := c.fracDigits; k < 9; k++ {
		c.nanos *= 10
	}
	return i, true
}

// zone reads Z, UTC, +hh:mm, +hhmm or +hh at b[i:].
func (c *civil) zone(b []byte, i int) (int, bool) {
	c.hasOffset = true
	if i < len(b) && b[i] == 'Z' {
		return i + 1, true
	}
	if len(b)-i >= 3 && string(b[i:i+3]) == "UTC" {
		return i + 3, true
	}
	if i >= len(b) || b[i] != '+' && b[i] != '-' {
		return i, false
	}
	sign := 1
	if b[i] == '-' {
		sign = -1
	}
	h, j, ok := digits(b, i+1, 2, 2)
	if !ok || h > 18 {
		return j, false
	}
	m := 0
	if j < len(b) && b[j] == ':' {
		if m, j, ok = digits(b, j+1, 2, 2); !ok {
			return j, false
		}
	} else if len(b)-j >= 2 && b[j] >= '0' && b[j] <= '9' {
		if m, j, ok = digits(b, j, 2, 2); !ok {
			return j, false
		}
	}
	if m > 59 {
		return j, false
	}
	c.offset = sign * (h*3600 + m*60)
	return j, true
}

// digits reads min..max decimal digits at b[i:], greedily.
func digits(b []byte, i, min, max int) (int, int, bool) {
	n, start := 0, i
	for i < len(b) && i-start < max && b[i] >= '0' && b[i] <= '9' {
		n = n*10 + int(b[i]-'0')
		i++
	}
	return n, i, i-start >= min
}

// valid reports whether c is a real date and time of day.
func (c *civil) valid() bool {
	if c.year < 1 || c.month < 1 || c.month > 12 || c.day < 1 || c.day > daysIn(c.year, c.month) {
		return false
	}
	return c.hour < 24 && c.minute < 60 && c.second < 60
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
