package clean

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/text/encoding/japanese"
)

const salesSpec = `
columns:
  - {name: date, type: DATE, required: true, formats: ["%Y-%m-%d", "%Y/%m/%d"]}
  - {name: store, type: INT64, aliases: [store_id, "Store No"]}
  - {name: price, type: NUMERIC, required: true, nulls: ["n/a"]}
  - {name: promo, type: BOOL}
  - {name: note, type: STRING}
drop: [internal]
`

func TestCleanOutputContract(t *testing.T) {
	in := "\xEF\xBB\xBFDATE,Store_ID,internal,price,promo,note\r\n" +
		"2026/04/05,007,x,12.50,yes,\"a, \"\"quoted\"\"\nnote\"\r\n" +
		"2026-02-30,1,x,1,no,\r\n" +
		"2026-04-06,,x,n/a,,\r\n" +
		"2026-04-07,abc,x,3,maybe,  spaced  \r\n" +
		"2026-04-08,2,x,-0.10,false,ok\r\n"
	r := runAll(t, parseSchema(t, salesSpec), "sales.csv", []byte(in))
	if r.err != nil {
		t.Fatal(r.err)
	}
	wantClean := `"date","store","price","promo","note","dropcast_row"` + "\n" +
		`"2026-04-05","7","12.5","true","a, ""quoted""` + "\n" + `note","2"` + "\n" +
		`"2026-04-08","2","-0.1","false","ok","7"` + "\n"
	if r.clean != wantClean {
		t.Errorf("clean:\n%s\nwant:\n%s", r.clean, wantClean)
	}
	wantRejects := "line,column,reason,record\n" +
		"4,date,\"DATE: \"\"2026-02-30\"\" is not a real date or time\",\"2026-02-30,1,x,1,no,\"\n" +
		"5,price,NUMERIC: required value is missing,\"2026-04-06,,x,n/a,,\"\n" +
		"6,store,\"INT64: \"\"abc\"\" is not an integer in the INT64 range\",\"2026-04-07,abc,x,3,maybe,  spaced  \"\n" +
		"6,promo,\"BOOL: \"\"maybe\"\" is not one of true,t,yes,y,1 / false,f,no,n,0\",\"2026-04-07,abc,x,3,maybe,  spaced  \"\n"
	if r.rejects != wantRejects {
		t.Errorf("rejects:\n%s\nwant:\n%s", r.rejects, wantRejects)
	}
	want := Checkpoint{Offset: int64(len(in)), Line: 8, Header: []string{"DATE", "Store_ID", "internal", "price", "promo", "note"},
		RowsIn: 5, RowsClean: 2, RowsRejected: 3, Done: true}
	if !equalCheckpoint(r.cp, want) {
		t.Errorf("checkpoint %+v, want %+v", r.cp, want)
	}
}

func equalCheckpoint(a, b Checkpoint) bool {
	return a.Offset == b.Offset && a.Line == b.Line && strings.Join(a.Header, "|") == strings.Join(b.Header, "|") &&
		a.Gzip == b.Gzip && a.RowsIn == b.RowsIn && a.RowsClean == b.RowsClean && a.RowsRejected == b.RowsRejected && a.Done == b.Done
}

func TestCleanMissingOptionalColumnAndDefault(t *testing.T) {
	s := parseSchema(t, `
columns:
  - {name: id, type: INT64, required: true}
  - {name: country, type: STRING, default: JP}
  - {name: score, type: FLOAT64}
`)
	r := runAll(t, s, "f.csv", []byte("id\n1\n2\n"))
	if r.err != nil {
		t.Fatal(r.err)
	}
	if want := `"id","country","score","dropcast_row"` + "\n" + `"1","JP",,"2"` + "\n" + `"2","JP",,"3"` + "\n"; r.clean != want {
		t.Errorf("clean %q, want %q", r.clean, want)
	}
}

func TestCleanRowRejects(t *testing.T) {
	s := parseSchema(t, `
input: {max_field_bytes: 8}
columns:
  - {name: a, type: STRING}
  - {name: b, type: STRING}
`)
	cases := []struct{ name, row, column, reason string }{
		{"ragged", "1,2,3", "", "row has 3 fields, expected 2"},
		{"short", "1", "", "row has 1 fields, expected 2"},
		{"NUL", "1,x\x00y", "", "row has a NUL byte (binary data?)"},
		{"invalid UTF-8", "1,\xff\xfe", "", "row is not valid UTF-8 (if the file is Shift_JIS, set input.encoding: shift_jis)"},
		{"field too long", "1,123456789", "b", "value is longer than 8 bytes (input.max_field_bytes)"},
		{"text after quote", `"x"y,2`, "a", "text after the closing quote of a quoted field"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runAll(t, s, "f.csv", []byte("a,b\nok,ok\n"+tc.row+"\n"))
			if r.err != nil {
				t.Fatal(r.err)
			}
			lines := strings.Split(strings.TrimSuffix(r.rejects, "\n"), "\n")
			if len(lines) != 2 || !strings.HasPrefix(lines[1], "3,"+tc.column+",") || !strings.Contains(lines[1], tc.reason) {
				t.Errorf("rejects %q, want line 3 column %q reason %q", r.rejects, tc.column, tc.reason)
			}
			if r.cp.RowsRejected != 1 || r.cp.RowsClean != 1 {
				t.Errorf("checkpoint %+v", r.cp)
			}
		})
	}
}

func TestCleanFileErrors(t *testing.T) {
	spec := parseSchema(t, `
columns:
  - {name: date, type: DATE, required: true}
  - {name: price, type: NUMERIC, required: true}
  - {name: note, type: STRING}
`)
	cases := []struct {
		name   string
		data   []byte
		file   string
		line   int64
		reason string
	}{
		{"empty", nil, "f.csv", 1, "empty file"},
		{"only blank lines", []byte("\n\r\n"), "f.csv", 1, "empty file"},
		{"missing required", []byte("date,note\n"), "f.csv", 1, `header: missing required column "price"`},
		{"unexpected", []byte("date,price,extra,more\n"), "f.csv", 1, `header: unexpected columns "extra", "more"`},
		{"duplicate", []byte("date,price,Price\n"), "f.csv", 1, `header: duplicate column "Price" (fields 2 and 3)`},
		{"wrong delimiter", []byte("date;price;note\n2026-01-01;1;x\n"), "f.csv", 1, `the file looks ";"-delimited (set input.delimiter)`},
		{"unterminated quote in the header", []byte("date,price,\"note\n2026-01-01,1,x\n"), "f.csv", 1, "header: unterminated quoted field"},
		{"binary", []byte("\x00\x01\x02date,price\x00\n"), "f.csv", 1, "binary file: the header has NUL bytes"},
		{"header not UTF-8", []byte("date,price,\x93\xfa\x95t\n"), "f.csv", 1, "header: not valid UTF-8 (if the file is Shift_JIS, set input.encoding: shift_jis)"},
		{"UTF-16", []byte("\xff\xfed\x00a\x00"), "f.csv", 1, "file is UTF-16; save it as UTF-8 or Shift_JIS"},
		{"xlsx", []byte("PK\x03\x04rest"), "f.xlsx", 1, "file is a ZIP archive (an Excel .xlsx?), not CSV"},
		{"truncated gzip", halfGzip(t), "f.csv.gz", 0, "truncated gzip stream"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runAll(t, spec, tc.file, tc.data)
			var fe *FileError
			if !errors.As(r.err, &fe) {
				t.Fatalf("err = %v, want *FileError", r.err)
			}
			if fe.File != tc.file || !strings.Contains(fe.Reason, tc.reason) || tc.line > 0 && fe.Line != tc.line {
				t.Errorf("got %+v, want file %s line %d reason %q", fe, tc.file, tc.line, tc.reason)
			}
		})
	}
}

func TestCleanFileErrorText(t *testing.T) {
	e := &FileError{File: "20260426-120000.csv", Line: 1, Reason: `header: missing required column "price"`}
	if got, want := e.Error(), `20260426-120000.csv:1: header: missing required column "price"`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestCleanHeaderOnlyPasses(t *testing.T) {
	r := runAll(t, parseSchema(t, salesSpec), "f.csv", []byte("date,price\r\n"))
	if r.err != nil || !r.cp.Done || r.cp.RowsIn != 0 || r.clean != `"date","store","price","promo","note","dropcast_row"`+"\n" {
		t.Fatalf("%+v", r)
	}
	c, _ := New(parseSchema(t, salesSpec), "f.csv")
	if err := c.CheckThreshold(r.cp); err != nil {
		t.Errorf("CheckThreshold = %v", err)
	}
}

func TestCleanUnknownColumnsIgnore(t *testing.T) {
	s := parseSchema(t, "unknown_columns: ignore\ncolumns: [{name: a, type: INT64}]\n")
	r := runAll(t, s, "f.csv", []byte("x,a,y\n1,2,3\n"))
	if r.err != nil || r.clean != `"a","dropcast_row"`+"\n"+`"2","2"`+"\n" {
		t.Fatalf("%+v", r)
	}
}

func TestCleanShiftJIS(t *testing.T) {
	s := parseSchema(t, `
input: {encoding: cp932}
columns:
  - {name: 商品, type: STRING, aliases: [品名]}
  - {name: 数量, type: INT64}
`)
	// 表 (0x95 0x5C) and ソ (0x83 0x5C) end in a backslash byte, ポ (0x83 0x7C) in '|'.
	text := "品名,数量\r\n表ソ,1\r\n\"ポ,\"\"ｶﾅ\"\"\",2\r\n　全角　,x\r\n"
	sjis, err := japanese.ShiftJIS.NewEncoder().Bytes([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	r := runAll(t, s, "sjis.csv", sjis)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if want := `"商品","数量","dropcast_row"` + "\n" + `"表ソ","1","2"` + "\n" + `"ポ,""ｶﾅ""","2","3"` + "\n"; r.clean != want {
		t.Errorf("clean %q, want %q", r.clean, want)
	}
	if want := "line,column,reason,record\n4,数量,\"INT64: \"\"x\"\" is not an integer in the INT64 range\",\"　全角　,x\"\n"; r.rejects != want {
		t.Errorf("rejects %q, want %q", r.rejects, want)
	}
	r = runAll(t, s, "sjis.csv", append(sjis, "\x81\x7f,1\r\n"...))
	if r.err != nil || !strings.Contains(r.rejects, "5,商品,value has bytes that are not valid Shift_JIS") {
		t.Errorf("rejects %q (err %v)", r.rejects, r.err)
	}
}

func TestCleanThreshold(t *testing.T) {
	s := parseSchema(t, "reject_threshold: {max_ratio: 0.25}\ncolumns: [{name: n, type: INT64}]\n")
	c, err := New(s, "f.csv")
	if err != nil {
		t.Fatal(err)
	}
	var te *ThresholdError
	if err := c.CheckThreshold(Checkpoint{RowsIn: 4, RowsClean: 3, RowsRejected: 1, Done: true}); err != nil {
		t.Errorf("1 of 4 at 0.25: %v", err)
	}
	err = c.CheckThreshold(Checkpoint{RowsIn: 4, RowsClean: 2, RowsRejected: 2, Done: true})
	if !errors.As(err, &te) || te.Rejected != 2 || te.Rows != 4 {
		t.Errorf("2 of 4 at 0.25: %v", err)
	}
	// No threshold: only an all-rejected file fails.
	c, _ = New(parseSchema(t, "columns: [{name: n, type: INT64}]\n"), "f.csv")
	if err := c.CheckThreshold(Checkpoint{RowsIn: 4, RowsClean: 1, RowsRejected: 3, Done: true}); err != nil {
		t.Errorf("unset threshold: %v", err)
	}
	if err := c.CheckThreshold(Checkpoint{RowsIn: 4, RowsRejected: 4, Done: true}); !errors.As(err, &te) {
		t.Errorf("all rejected: %v", err)
	}
}

// TestCleanHugeFieldBoundedMemory feeds a 10 MB field: the row is rejected
// and the cleaner allocates far less than the field.
func TestCleanHugeFieldBoundedMemory(t *testing.T) {
	s := parseSchema(t, "columns: [{name: a, type: STRING}, {name: b, type: INT64}]\n")
	huge := bytes.Repeat([]byte("y"), 10<<20)
	data := append(append([]byte("a,b\n\""), huge...), "\",1\nok,2\n"...)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := runAll(t, s, "f.csv", data)
	runtime.ReadMemStats(&after)
	if r.err != nil || r.cp.RowsRejected != 1 || r.clean != `"a","b","dropcast_row"`+"\n"+`"ok","2","3"`+"\n" {
		t.Fatalf("%v %+v %q", r.err, r.cp, r.clean)
	}
	if !strings.Contains(r.rejects, "2,,record is longer than 4194304 bytes") {
		t.Errorf("rejects %.200q", r.rejects)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 9<<20 {
		t.Errorf("allocated %d bytes for a 10 MiB field", alloc)
	}
}

func TestCleanGzip(t *testing.T) {
	in := "date,price\n2026-01-01,1.0\n2026-01-02,2\n"
	r := runAll(t, parseSchema(t, salesSpec), "upload.csv", gzipped(t, []byte(in)))
	if r.err != nil || !r.cp.Gzip || r.clean != `"date","store","price","promo","note","dropcast_row"`+"\n"+`"2026-01-01",,"1",,,"2"`+"\n"+`"2026-01-02",,"2",,,"3"`+"\n" {
		t.Fatalf("%+v", r)
	}
}

// halfGzip is the first half of a gzipped multi-row file.
func halfGzip(t *testing.T) []byte {
	var b strings.Builder
	b.WriteString("date,price,note\n")
	for i := range 2000 {
		fmt.Fprintf(&b, "2026-01-01,%d,row %d\n", i*7919%1000, i)
	}
	z := gzipped(t, []byte(b.String()))
	return z[:len(z)/2]
}
