package run

import (
	"strings"
	"testing"
)

func TestIDIsDeterministicAndSafe(t *testing.T) {
	src := Source{Bucket: "in", Object: "incoming/20260426-120000.csv", Generation: 5}
	a, b := ID("purchases", src), ID("purchases", src)
	if a != b || !ValidID(a) || !strings.HasPrefix(a, "purchases-20260426-120000-") {
		t.Fatalf("ID = %q, %q", a, b)
	}
	src.Generation = 6
	if ID("purchases", src) == a {
		t.Fatal("a new generation (a re-upload) got the same run")
	}
	odd := ID("p", Source{Bucket: "in", Object: "incoming/../weird name ü.csv.gz", Generation: 1})
	if !ValidID(odd) || strings.ContainsAny(odd, "./ ü") {
		t.Fatalf("unsafe ID %q", odd)
	}
	for _, bad := range []string{"", "../x", "p-x-012345678", "P-x-0123456789", "p-x-0123456789/.."} {
		if ValidID(bad) {
			t.Errorf("ValidID(%q)", bad)
		}
	}
}
