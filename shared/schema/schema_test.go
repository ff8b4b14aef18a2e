package schema

import (
	"strings"
	"testing"

	"cloud.google.com/go/bigquery"
	"gopkg.in/yaml.v3"
)

func mustSchema(t *testing.T, y string) *Schema {
	t.Helper()
	var s Schema
	if err := yaml.Unmarshal([]byte(y), &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

func TestValidateReportsEveryProblem(t *testing.T) {
	s := mustSchema(t, `
input: {delimiter: "|", encoding: cp932, quote: "ab"}
unknown_columns: maybe
reject_threshold: {max_ratio: 2}
drop: [Price]
columns:
  - {name: price, type: NUMERIC, min: 10, max: 1}
  - {name: day, type: DATE, formats: ["%Y-%m-%d %H", "%Q"], default: "not a date"}
  - {name: code, type: STRING, pattern: "a(b", min: a}
  - {name: dropcast_row, type: INT64}
  - {name: n, type: INT64, default: "1.5", allowed: [1, x]}
  - {name: ok, type: BOOL, true_values: [yes, no]}
  - {name: 2x, type: TEXT}
  - {name: ts, type: TIMESTAMP, timezone: Mars/Base, aliases: [PRICE]}
  - {name: _row, type: INT64}
`)
	want := []string{
		"input.quote",
		"input.delimiter",
		"columns[0].min",
		"columns[1].formats[0]",
		"columns[1].formats[1]",
		"columns[2].pattern",
		"columns[3].name",
		"columns[8].name",
		"columns[4].default",
		"columns[4].allowed[1]",
		"columns[5].true_values[1]",
		"columns[6].name",
		"columns[6].type",
		"columns[7].aliases[0]",
		"columns[7].timezone",
		"drop[0]",
		"unknown_columns",
		"reject_threshold.max_ratio",
	}
	got := map[string]string{}
	for _, p := range s.Validate() {
		got[p.Path] = p.Message
	}
	for _, w := range want {
		if _, ok := got[w]; !ok {
			t.Errorf("no problem at %s; got %v", w, got)
		}
	}
	if m := got["columns[0].min"]; !strings.Contains(m, "greater than max") {
		t.Errorf("min>max message %q", m)
	}
}

func TestValidateGoodSchema(t *testing.T) {
	s := mustSchema(t, `
input: {delimiter: "\t", encoding: shift_jis}
columns:
  - {name: 日付, type: DATE, formats: ["%Y/%m/%d", "%Y%m%d"], min: 2020-01-01, max: "2030/12/31"}
  - {name: n, type: INT64, min: 0, default: 0, allowed: [0, 1, "02"]}
  - {name: at, type: TIMESTAMP, timezone: Asia/Tokyo}
`)
	if ps := s.Validate(); len(ps) != 0 {
		t.Fatalf("problems: %v", ps)
	}
}

func TestBigQuerySchema(t *testing.T) {
	s := mustSchema(t, `columns: [{name: a, type: INT64, required: true}, {name: b, type: BOOL}, {name: c, type: NUMERIC}]`)
	got := s.BigQuery()
	want := bigquery.Schema{
		{Name: "a", Type: bigquery.IntegerFieldType, Required: true},
		{Name: "b", Type: bigquery.BooleanFieldType},
		{Name: "c", Type: bigquery.NumericFieldType},
		{Name: "_row", Type: bigquery.IntegerFieldType, Required: true}, // unchanged since tables were first loaded
	}
	if len(got) != len(want) {
		t.Fatalf("got %d fields", len(got))
	}
	for i := range want {
		if got[i].Name != want[i].Name || got[i].Type != want[i].Type || got[i].Required != want[i].Required {
			t.Errorf("field %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestApply(t *testing.T) {
	type check struct{ in, out, err string }
	cases := []struct {
		col    string
		checks []check
	}{
		{`{name: n, type: INT64, min: -5, max: 1000}`, []check{
			{" +007 ", "7", ""}, {"-5", "-5", ""}, {"", "", ""}, {"1001", "", "above max 1000"},
			{"-6", "", "below min -5"}, {"1.0", "", `"1.0" is not an integer`}, {"abc", "", "not an integer"},
		}},
		{`{name: n, type: INT64}`, []check{
			{"9223372036854775807", "9223372036854775807", ""}, {"-9223372036854775808", "-9223372036854775808", ""},
			{"9223372036854775808", "", "not an integer"}, {"99999999999999999999", "", "not an integer"},
		}},
		{`{name: f, type: FLOAT64}`, []check{
			{"1.50", "1.5", ""}, {"-2e3", "-2000", ""}, {"NaN", "", "not a finite number"},
			{"inf", "", "not a finite number"}, {"1e400", "", "not a finite number"}, {"0x10", "", "not a finite number"},
		}},
		{`{name: d, type: NUMERIC, nulls: ["N/A", "-"]}`, []check{
			{"0012.3400", "12.34", ""}, {"-0.0", "0", ""}, {".5", "0.5", ""}, {"5.", "5", ""}, {"n/a", "", ""}, {"-", "", ""},
			{"1.0000000001", "", "more than 9 fractional digits"}, {"1" + strings.Repeat("0", 29), "", "more than 29 integer digits"},
			{"1,000", "", "not a decimal"}, {"1e5", "", "not a decimal"},
		}},
		{`{name: b, type: BOOL}`, []check{{"YES", "true", ""}, {"0", "false", ""}, {"maybe", "", "not one of"}}},
		{`{name: b, type: BOOL, true_values: [はい], false_values: [いいえ]}`, []check{{"はい", "true", ""}, {"yes", "", "not one of"}}},
		{`{name: d, type: DATE, formats: ["%Y/%m/%d", "%d.%m.%Y", "%Y%m%d"], min: 2020-01-01}`, []check{
			{"2026/4/5", "2026-04-05", ""}, {"05.04.2026", "2026-04-05", ""}, {"20260405", "2026-04-05", ""},
			{"2024/02/29", "2024-02-29", ""}, {"2026/02/29", "", "not a real date"}, {"2019/12/31", "", "below min"},
			{"2026-04-05", "", "does not match %Y/%m/%d or %d.%m.%Y or %Y%m%d"},
		}},
		{`{name: d, type: DATETIME}`, []check{
			{"2026-04-05 07:08:09", "2026-04-05 07:08:09", ""}, {"2026-04-05T07:08:09.120", "2026-04-05 07:08:09.12", ""},
			{"2026-04-05", "2026-04-05 00:00:00", ""}, {"2026-04-05 24:00:00", "", "not a real date"},
			{"2026-04-05 07:08:09.1234567", "", "more precise than microseconds"},
		}},
		{`{name: t, type: TIMESTAMP}`, []check{
			{"2026-04-05T09:00:00+09:00", "2026-04-05 00:00:00 UTC", ""}, {"2026-04-05 00:30:00Z", "2026-04-05 00:30:00 UTC", ""},
			{"2026-01-01 00:00:00-0130", "2026-01-01 01:30:00 UTC", ""}, {"2026-04-05 00:00:00.5 UTC", "2026-04-05 00:00:00.5 UTC", ""},
		}},
		{`{name: t, type: TIMESTAMP, timezone: Asia/Tokyo, formats: ["%Y/%m/%d %H:%M"]}`, []check{
			{"2026/04/05 09:00", "2026-04-05 00:00:00 UTC", ""},
		}},
		{`{name: s, type: STRING, pattern: "[A-Z]{2}-[0-9]+", required: true}`, []check{
			{" AB-12 ", "AB-12", ""}, {"AB-12x", "", "does not match pattern"}, {"  ", "", "required value is missing"},
		}},
		{`{name: s, type: STRING, trim: false, allowed: [" a", b], default: b}`, []check{
			{" a", " a", ""}, {"a", "", "not one of the allowed"}, {"", "b", ""},
		}},
		{`{name: s, type: STRING}`, []check{{"\u3000全角\u3000", "全角", ""}}},
	}
	for _, tc := range cases {
		var col Column
		if err := yaml.Unmarshal([]byte(tc.col), &col); err != nil {
			t.Fatal(err)
		}
		r, ps := col.Compile()
		if ps != nil {
			t.Fatalf("%s: %v", tc.col, ps)
		}
		for _, ch := range tc.checks {
			out, err := r.Apply([]byte("prefix,"), []byte(ch.in))
			switch {
			case ch.err == "" && err != nil:
				t.Errorf("%s: Apply(%q) error %v", tc.col, ch.in, err)
			case ch.err != "" && (err == nil || !strings.Contains(err.Error(), ch.err)):
				t.Errorf("%s: Apply(%q) error %v, want %q", tc.col, ch.in, err, ch.err)
			case err == nil && string(out) != "prefix,"+ch.out:
				t.Errorf("%s: Apply(%q) = %q, want %q", tc.col, ch.in, out, ch.out)
			case err != nil && string(out) != "prefix,":
				t.Errorf("%s: Apply(%q) failed but appended %q", tc.col, ch.in, out)
			}
		}
	}
}

func TestParseLayoutErrors(t *testing.T) {
	for _, l := range []string{"%Y-%m", "%Y-%m-%d %", "%Y-%m-%d %x", "%Y-%m-%d-%d", "%Y-%m-%d %S"} {
		if _, err := ParseLayout(l); err == nil {
			t.Errorf("ParseLayout(%q) succeeded", l)
		}
	}
}
