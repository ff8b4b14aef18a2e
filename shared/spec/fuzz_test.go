package spec

import (
	"errors"
	"testing"

	"github.com/dropcast/dropcast/shared/sample"
)

// FuzzParse: any input either parses into a spec that passes validation, or
// fails with a *Error whose every problem has a line and a path.
func FuzzParse(f *testing.F) {
	f.Add(sample.Spec)
	f.Add([]byte("name: x\ncolumns: [{name: a, type: INT64}]\ndestination: {table: d.t}\npredict: {model: projects/p/locations/l/models/m}\n"))
	f.Add([]byte("{{{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data)
		if err == nil {
			if p.Name == "" || len(p.Columns) == 0 || p.match == nil {
				t.Fatalf("accepted an incomplete spec: %+v", p)
			}
			return
		}
		var se *Error
		if !errors.As(err, &se) || len(se.Problems) == 0 {
			t.Fatalf("error %v is not a located spec error", err)
		}
		for _, pr := range se.Problems {
			if pr.Line < 1 || pr.Path == "" {
				t.Fatalf("problem without location: %+v", pr)
			}
		}
	})
}
