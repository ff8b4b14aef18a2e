package tabular

import (
	"strings"
	"testing"
)

func TestParseInfersTheTarget(t *testing.T) {
	for _, c := range []struct{ header, input, target, classes string }{
		{"a,credit_score,_row,returned_false_score,returned_true_score", "a,credit_score,_row", "", "false true"},
		{"a,_row,is_late_true_score,is_late_trust_score", "a,_row", "", "true trust"},
		{"a,_row,t_risk_low_score,t_risk_high_score", "a,_row", "t", "risk_low risk_high"},
		{"a,_row,predicted_price", "a,_row", "", ""},
	} {
		cols, err := Parse(strings.Split(c.header, ","), strings.Split(c.input, ","), "_row", c.target)
		if err != nil {
			t.Errorf("Parse(%s): %v", c.header, err)
			continue
		}
		if got := strings.Join(cols.Classes(), " "); got != c.classes {
			t.Errorf("Parse(%s) classes %q, want %q", c.header, got, c.classes)
		}
	}
	for _, c := range []struct{ header, input string }{
		{"a,_row,x_yes_score", "a,_row"},                    // one score column: no telling target from class
		{"a,_row", "a,_row"},                                // no prediction column
		{"a,_row,returned_true_score,extra", "a,_row"},      // a column that is no prediction
		{"a,returned_true_score,returned_false_score", "a"}, // no row key
	} {
		if _, err := Parse(strings.Split(c.header, ","), strings.Split(c.input, ","), "_row", ""); err == nil {
			t.Errorf("Parse(%s) succeeded", c.header)
		}
	}
}
