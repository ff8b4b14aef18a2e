package clean

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"
)

// FuzzScanner checks that the scanner never panics and splits records the
// same way whatever its buffer size and however the input is chunked.
func FuzzScanner(f *testing.F) {
	f.Add([]byte("a,b\n\"x\ny\",\"q\"\"q\"\r\n\n5\" tv,\"\"junk\n"))
	f.Add([]byte("\"unterminated\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		big, errBig := scanAll(data, 1<<16, 1<<20)
		small, errSmall := scanAll(data, 3, 1<<20)
		if errBig != nil || errSmall != nil {
			t.Fatalf("in-memory input failed: %v / %v", errBig, errSmall)
		}
		if !reflect.DeepEqual(big, small) {
			t.Fatalf("records differ by buffer size:\n%+v\n%+v", big, small)
		}
		// With a tiny record limit, long records become oversize rejects but
		// record boundaries and line numbers are unchanged.
		capped, errCap := scanAll(data, 8, 16)
		if (errCap == nil) != (errBig == nil) || len(capped) != len(big) {
			t.Fatalf("record limit changed the records: %d vs %d (%v / %v)", len(capped), len(big), errCap, errBig)
		}
		for i := range big {
			if capped[i].Line != big[i].Line || capped[i].Lines != big[i].Lines {
				t.Fatalf("record %d: line %d (+%d) with limit, %d (+%d) without", i, capped[i].Line, capped[i].Lines, big[i].Line, big[i].Lines)
			}
		}
	})
}

// FuzzCleaner checks that cleaning never panics, that every record ends up
// clean or rejected, and that a run segmented at every record gives the same
// output as one run.
func FuzzCleaner(f *testing.F) {
	f.Add([]byte("id,day,amount,text\n1,2026-01-02,3.5,x\n2,2026-02-30,n/a,\"a\nb\"\n"))
	f.Add([]byte("\xEF\xBB\xBFid,text\r\n1,\"\"\"\"\r\n"))
	f.Add([]byte("id;day\n1;2\n"))
	s := parseSchema(f, segSpec+"unknown_columns: ignore\ninput: {max_field_bytes: 32, max_record_bytes: 64}\n")
	f.Fuzz(func(t *testing.T, data []byte) {
		whole := runAll(t, s, "f.csv", data)
		if whole.err != nil {
			var fe *FileError
			if !errors.As(whole.err, &fe) {
				t.Fatalf("non-file error from in-memory input: %v", whole.err)
			}
			return
		}
		cp := whole.cp
		if !cp.Done || cp.RowsIn != cp.RowsClean+cp.RowsRejected {
			t.Fatalf("counts %+v", cp)
		}
		if got := int64(bytes.Count([]byte(whole.clean), []byte("\n"))); cp.RowsClean > got {
			t.Fatalf("%d clean rows but %d lines", cp.RowsClean, got)
		}
		c, err := New(s, "f.csv")
		if err != nil {
			t.Fatal(err)
		}
		c.StopEvery = 1
		var clean, rejects bytes.Buffer
		seg := Checkpoint{}
		for n := 0; !seg.Done; n++ {
			var out, rej bytes.Buffer
			if seg, err = c.Segment(context.Background(), bytesOpener(data), seg, &out, &rej, func() bool { return true }); err != nil {
				t.Fatalf("segment %d: %v", n, err)
			}
			clean.WriteString(dataLines(out.String()))
			rejects.WriteString(dataLines(rej.String()))
		}
		if clean.String() != dataLines(whole.clean) || rejects.String() != dataLines(whole.rejects) {
			t.Fatalf("segmented output differs:\n%q\n%q", clean.String(), dataLines(whole.clean))
		}
	})
}
