package schema

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Rule is a compiled Column: it turns one raw field into BigQuery's canonical
// text. A Rule is read-only after Compile and safe for concurrent use.
type Rule struct {
	col        Column
	trim       bool
	nulls      []string
	pattern    *regexp.Regexp
	def        []byte // canonical default, when hasDef
	hasDef     bool
	allowed    map[string]bool
	layouts    []*Layout
	loc        *time.Location
	trueW      []string
	falseW     []string
	minI, maxI int64
	minF, maxF float64
	minS, maxS []byte // canonical bounds of NUMERIC and date types
	hasMin     bool
	hasMax     bool
}

// errMissing is the error of a null value in a required column.
var errMissing = errors.New("required value is missing")

// ErrMissing reports whether err is a required column's missing value.
func ErrMissing(err error) bool { return errors.Is(err, errMissing) }

// defaultWords are a BOOL column's true and false words when the spec names none.
func defaultWords() (t, f []string) {
	return []string{"true", "t", "yes", "y", "1"}, []string{"false", "f", "no", "n", "0"}
}

// Compile checks c's rules and compiles them. Errors are Problems with paths
// relative to the column (e.g. "pattern").
func (c Column) Compile() (*Rule, []Problem) {
	r := &Rule{col: c, trim: c.Trim == nil || *c.Trim || c.Type != String, loc: time.UTC}
	var ps []Problem
	bad := func(path, format string, a ...any) { ps = append(ps, Problem{path, fmt.Sprintf(format, a...)}) }
	switch c.Type {
	case String, Int64, Float64, Numeric, Bool, Date, DateTime, Timestamp:
	default:
		bad("type", "unknown type %q (want STRING, INT64, FLOAT64, NUMERIC, BOOL, DATE, DATETIME or TIMESTAMP)", c.Type)
		return nil, ps
	}
	for _, n := range c.Nulls {
		if n = strings.TrimSpace(n); n != "" {
			r.nulls = append(r.nulls, n)
		}
	}
	if c.Pattern != "" {
		re, err := regexp.Compile(`^(?:` + c.Pattern + `)$`)
		if err != nil {
			bad("pattern", "bad regular expression: %v", err)
		} else {
			r.pattern = re
		}
	}
	r.compileType(bad)
	if len(ps) > 0 {
		return nil, ps
	}
	// Spec values are checked by the column's own rules (plus the canonical layouts).
	spec := *r
	spec.pattern, spec.allowed, spec.hasMin, spec.hasMax, spec.nulls = nil, nil, false, false, nil
	spec.layouts = append(spec.layouts[:len(spec.layouts):len(spec.layouts)], r.canonicalLayouts()...)
	canon := func(path, v string) ([]byte, bool) {
		out, err := spec.Apply(nil, []byte(v))
		if err != nil || len(out) == 0 {
			bad(path, "%q is not a valid %s value", v, c.Type)
			return nil, false
		}
		return out, true
	}
	if c.Default != nil {
		if strings.TrimSpace(*c.Default) == "" {
			bad("default", "must not be empty (leave it out for NULL)")
		} else if d, ok := canon("default", *c.Default); ok {
			r.def, r.hasDef = d, true
		}
	}
	if len(c.Allowed) > 0 {
		r.allowed = map[string]bool{}
		for i, a := range c.Allowed {
			if v, ok := canon(fmt.Sprintf("allowed[%d]", i), a); ok {
				r.allowed[string(v)] = true
			}
		}
	}
	r.compileBounds(canon, bad)
	if len(ps) > 0 {
		return nil, ps
	}
	return r, nil
}

// compileType prepares the type's layouts, zone and words.
func (r *Rule) compileType(bad func(string, string, ...any)) {
	c := r.col
	if len(c.Formats) > 0 && c.Type != Date && c.Type != DateTime && c.Type != Timestamp {
		bad("formats", "only DATE, DATETIME and TIMESTAMP columns take formats")
	}
	if c.TimeZone != "" {
		if c.Type != Timestamp {
			bad("timezone", "only TIMESTAMP columns take a time zone")
		} else if loc, err := time.LoadLocation(c.TimeZone); err != nil {
			bad("timezone", "unknown time zone %q", c.TimeZone)
		} else {
			r.loc = loc
		}
	}
	if (len(c.TrueValues) > 0 || len(c.FalseValues) > 0) && c.Type != Bool {
		bad("true_values", "only BOOL columns take true_values and false_values")
	}
	switch c.Type {
	case Bool:
		t, f := defaultWords()
		r.trueW, r.falseW = orDefault(c.TrueValues, t), orDefault(c.FalseValues, f)
		for i, t := range r.trueW {
			for _, f := range r.falseW {
				if strings.EqualFold(t, f) {
					bad(fmt.Sprintf("true_values[%d]", i), "%q is also a false value", t)
				}
			}
		}
	case Date, DateTime, Timestamp:
		for i, f := range orDefault(c.Formats, r.canonicalFormats()) {
			l, err := ParseLayout(f)
			switch {
			case err != nil:
				bad(fmt.Sprintf("formats[%d]", i), "%v", err)
			case c.Type == Date && l.HasTime():
				bad(fmt.Sprintf("formats[%d]", i), "a DATE layout cannot read a time (%%H)")
			case c.Type != Timestamp && l.HasZone():
				bad(fmt.Sprintf("formats[%d]", i), "only TIMESTAMP layouts can read a zone (%%z)")
			default:
				r.layouts = append(r.layouts, l)
			}
		}
	}
}

// compileBounds parses Min and Max.
func (r *Rule) compileBounds(canon func(string, string) ([]byte, bool), bad func(string, string, ...any)) {
	c := r.col
	if c.Min == "" && c.Max == "" {
		return
	}
	if c.Type == String || c.Type == Bool {
		bad("min", "%s columns take no min or max", c.Type)
		return
	}
	var lo, hi []byte
	if c.Min != "" {
		lo, r.hasMin = canon("min", c.Min)
	}
	if c.Max != "" {
		hi, r.hasMax = canon("max", c.Max)
	}
	switch c.Type {
	case Int64:
		r.minI, _ = strconv.ParseInt(string(lo), 10, 64)
		r.maxI, _ = strconv.ParseInt(string(hi), 10, 64)
	case Float64:
		r.minF, _ = strconv.ParseFloat(string(lo), 64)
		r.maxF, _ = strconv.ParseFloat(string(hi), 64)
	}
	r.minS, r.maxS = lo, hi
	if r.hasMin && r.hasMax && r.compare(lo, hi) > 0 {
		bad("min", "min %s is greater than max %s", c.Min, c.Max)
	}
}

// canonicalFormats are the type's default layouts.
func (r *Rule) canonicalFormats() []string {
	switch r.col.Type {
	case Date:
		return []string{"%Y-%m-%d"}
	case DateTime:
		return []string{"%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d"}
	}
	return []string{"%Y-%m-%d %H:%M:%S%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S %z",
		"%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"}
}

func (r *Rule) canonicalLayouts() []*Layout {
	var ls []*Layout
	if r.col.Type == Date || r.col.Type == DateTime || r.col.Type == Timestamp {
		for _, f := range r.canonicalFormats() {
			l, _ := ParseLayout(f)
			ls = append(ls, l)
		}
	}
	return ls
}

func orDefault(v, def []string) []string {
	if len(v) > 0 {
		return v
	}
	return def
}

// Column is the column the rule was compiled from.
func (r *Rule) Column() Column { return r.col }

// Missing appends the value of a column absent from the file: its default or NULL.
func (r *Rule) Missing(dst []byte) []byte {
	if r.hasDef {
		return append(dst, r.def...)
	}
	return dst
}

// Apply appends raw's canonical text to dst (nothing for NULL) or returns
// dst unchanged and an error whose text is a reject reason such as
// `INT64: "abc" is not an integer`. raw must be UTF-8.
func (r *Rule) Apply(dst, raw []byte) ([]byte, error) {
	v := raw
	if r.trim {
		v = trimSpace(v)
	}
	if r.isNull(v) {
		if r.hasDef {
			return append(dst, r.def...), nil
		}
		if r.col.Required {
			return dst, errMissing
		}
		return dst, nil
	}
	if r.pattern != nil && !r.pattern.Match(v) {
		return dst, fmt.Errorf("%s: %s does not match pattern %s", r.col.Type, quote(v), r.col.Pattern)
	}
	if r.col.Type == Int64 && r.allowed == nil {
		return r.applyInt64(dst, v)
	}
	start := len(dst)
	out, err := r.convert(dst, v)
	if err != nil {
		return dst, err
	}
	val := out[start:]
	if r.allowed != nil && !r.allowed[string(val)] {
		return dst, fmt.Errorf("%s: %s is not one of the allowed values", r.col.Type, quote(v))
	}
	if r.hasMin || r.hasMax {
		switch r.bound(val) {
		case -1:
			return dst, fmt.Errorf("%s: %s is below min %s", r.col.Type, quote(v), r.col.Min)
		case 1:
			return dst, fmt.Errorf("%s: %s is above max %s", r.col.Type, quote(v), r.col.Max)
		}
	}
	return out, nil
}

// applyInt64 is Apply's fast path for INT64 columns without allowed values.
func (r *Rule) applyInt64(dst, v []byte) ([]byte, error) {
	out, x, ok := appendInt64(dst, v)
	switch {
	case !ok:
		return dst, fmt.Errorf("INT64: %s is not an integer in the INT64 range", quote(v))
	case r.hasMin && x < r.minI:
		return dst, fmt.Errorf("INT64: %s is below min %s", quote(v), r.col.Min)
	case r.hasMax && x > r.maxI:
		return dst, fmt.Errorf("INT64: %s is above max %s", quote(v), r.col.Max)
	}
	return out, nil
}

// bound is -1 when canonical val is below Min, 1 when above Max, else 0.
func (r *Rule) bound(val []byte) int {
	switch r.col.Type {
	case Int64:
		x, _ := strconv.ParseInt(string(val), 10, 64)
		if r.hasMin && x < r.minI {
			return -1
		}
		if r.hasMax && x > r.maxI {
			return 1
		}
		return 0
	case Float64:
		x, _ := strconv.ParseFloat(string(val), 64)
		if r.hasMin && x < r.minF {
			return -1
		}
		if r.hasMax && x > r.maxF {
			return 1
		}
		return 0
	}
	if r.hasMin && r.compare(val, r.minS) < 0 {
		return -1
	}
	if r.hasMax && r.compare(val, r.maxS) > 0 {
		return 1
	}
	return 0
}

func (r *Rule) isNull(v []byte) bool {
	if len(v) == 0 {
		return true
	}
	for _, n := range r.nulls {
		if equalFoldASCII(v, n) {
			return true
		}
	}
	return false
}

// convert appends v's canonical form.
func (r *Rule) convert(dst, v []byte) ([]byte, error) {
	t := r.col.Type
	switch t {
	case String:
		return append(dst, v...), nil
	case Int64:
		out, _, ok := appendInt64(dst, v)
		if !ok {
			return dst, fmt.Errorf("INT64: %s is not an integer in the INT64 range", quote(v))
		}
		return out, nil
	case Float64:
		out, _, ok := appendFloat64(dst, v)
		if !ok {
			return dst, fmt.Errorf("FLOAT64: %s is not a finite number", quote(v))
		}
		return out, nil
	case Numeric:
		out, e := appendNumeric(dst, v)
		if e != numOK {
			return dst, fmt.Errorf("NUMERIC: %s %s", quote(v), e)
		}
		return out, nil
	case Bool:
		for _, w := range r.trueW {
			if equalFoldASCII(v, w) {
				return append(dst, "true"...), nil
			}
		}
		for _, w := range r.falseW {
			if equalFoldASCII(v, w) {
				return append(dst, "false"...), nil
			}
		}
		return dst, fmt.Errorf("BOOL: %s is not one of %s / %s", quote(v), strings.Join(r.trueW, ","), strings.Join(r.falseW, ","))
	}
	return r.convertTime(dst, v)
}

// convertTime parses v with the first matching layout.
func (r *Rule) convertTime(dst, v []byte) ([]byte, error) {
	t := r.col.Type
	for _, l := range r.layouts {
		c, ok := l.parse(v)
		if !ok {
			continue
		}
		if !c.valid() {
			return dst, fmt.Errorf("%s: %s is not a real date or time", t, quote(v))
		}
		us, ok := c.micros()
		if !ok {
			return dst, fmt.Errorf("%s: %s is more precise than microseconds", t, quote(v))
		}
		switch t {
		case Date:
			return appendDate(dst, c.year, c.month, c.day), nil
		case DateTime:
			return appendDateTime(dst, c, us), nil
		}
		out, ok := appendTimestamp(dst, c, us, r.loc)
		if !ok {
			return dst, fmt.Errorf("%s: %s is outside years 0001-9999", t, quote(v))
		}
		return out, nil
	}
	fs := make([]string, len(r.layouts))
	for i, l := range r.layouts {
		fs[i] = l.String()
	}
	return dst, fmt.Errorf("%s: %s does not match %s", t, quote(v), strings.Join(fs, " or "))
}

// compare orders two canonical values of the rule's type.
func (r *Rule) compare(a, b []byte) int {
	switch r.col.Type {
	case Int64:
		x, _ := strconv.ParseInt(string(a), 10, 64)
		y, _ := strconv.ParseInt(string(b), 10, 64)
		return cmp(x, y)
	case Float64:
		x, _ := strconv.ParseFloat(string(a), 64)
		y, _ := strconv.ParseFloat(string(b), 64)
		return cmp(x, y)
	case Numeric:
		return compareNumeric(a, b)
	}
	// Canonical DATE, DATETIME and TIMESTAMP text sorts chronologically.
	return strings.Compare(string(a), string(b))
}

func cmp[T int64 | float64](x, y T) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// quote renders a value for a reason, shortened to 64 bytes.
func quote(v []byte) string {
	if len(v) > 64 {
		cut := 64
		for cut > 0 && !utf8.RuneStart(v[cut]) {
			cut--
		}
		return strconv.Quote(string(v[:cut])) + "…"
	}
	return strconv.Quote(string(v))
}
