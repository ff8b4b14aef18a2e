package clean

import (
	"bytes"
	"reflect"
	"testing"
	"testing/iotest"
)

// scanned is one record as the scanner saw it.
type scanned struct {
	Line      int64
	Fields    []string
	Malformed int
	Oversize  bool
	// Lines is how many source lines an unterminated record swallowed, 0 otherwise.
	Lines int64
}

// scanAll scans data with the given buffer and record limit, reading in
// small pieces to exercise refills.
func scanAll(data []byte, bufSize, maxRecord int) ([]scanned, error) {
	sc := newScanner(iotest.HalfReader(bytes.NewReader(data)), 0, 1, ',', '"', bufSize, maxRecord)
	var out []scanned
	for {
		ok, err := sc.next()
		if err != nil || !ok {
			return out, err
		}
		r := scanned{Line: sc.line, Malformed: sc.malformed, Oversize: sc.oversize}
		if sc.unterminated {
			r.Lines = sc.nextLine - sc.line
		}
		for _, f := range sc.fields {
			r.Fields = append(r.Fields, string(f))
		}
		out = append(out, r)
	}
}

func TestScannerRecords(t *testing.T) {
	in := "a,b,c\r\n" + // CRLF
		"\"x,1\",\"say \"\"hi\"\"\",\"two\nlines\"\n" + // quoted delimiter, doubled quotes, newline
		"\n" + // blank line: skipped, still counted
		"5\" screen,,last\n" + // a quote inside an unquoted field is data
		"\"closed\"junk,2,3\n" + // text after a closing quote
		"\"\",\"\"\r\n" + // empty quoted fields, CRLF
		"tail,no,newline"
	want := []scanned{
		{1, []string{"a", "b", "c"}, -1, false, 0},
		{2, []string{"x,1", `say "hi"`, "two\nlines"}, -1, false, 0},
		{5, []string{`5" screen`, "", "last"}, -1, false, 0},
		{6, []string{"closedjunk", "2", "3"}, 0, false, 0},
		{7, []string{"", ""}, -1, false, 0},
		{8, []string{"tail", "no", "newline"}, -1, false, 0},
	}
	for _, size := range []int{1, 3, 7, 64, 1 << 16} {
		got, err := scanAll([]byte(in), size, 1<<20)
		if err != nil {
			t.Fatalf("buffer %d: %v", size, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("buffer %d:\n got %+v\nwant %+v", size, got, want)
		}
	}
}

// A quote that never closes makes one last record of the rest of the input,
// whatever the buffer and record limit, covering every line to the end.
func TestScannerUnterminated(t *testing.T) {
	in := "a,b\n1,\"open\n\nstill open\n"
	for _, limit := range []int{8, 1 << 20} {
		got, err := scanAll([]byte(in), 4, limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[1].Line != 2 || got[1].Lines != 3 || got[1].Fields != nil || got[1].Oversize != (limit == 8) {
			t.Fatalf("limit %d: got %+v", limit, got)
		}
	}
}

func TestScannerOversize(t *testing.T) {
	long := bytes.Repeat([]byte("x"), 5000)
	in := "a,b\n1,\"" + string(long) + "\n" + string(long) + "\"\n2,3\n"
	got, err := scanAll([]byte(in), 64, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !got[1].Oversize || got[1].Line != 2 || got[2].Line != 4 ||
		!reflect.DeepEqual(got[2].Fields, []string{"2", "3"}) {
		t.Fatalf("got %+v", got)
	}
}
