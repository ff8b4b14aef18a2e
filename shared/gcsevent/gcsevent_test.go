package gcsevent

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
)

func newEvent(t *testing.T, typ string, data any) event.Event {
	t.Helper()
	e := event.New()
	e.SetID("1")
	e.SetSource("//test")
	e.SetType(typ)
	if err := e.SetData("application/json", data); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEventarcFinalized(t *testing.T) {
	e := newEvent(t, FinalizedType, map[string]any{"bucket": "in", "name": "incoming/a.csv", "generation": "1714132800123456", "size": "42"})
	o, err := Decode(e)
	if err != nil || o != (Object{Bucket: "in", Name: "incoming/a.csv", Generation: 1714132800123456, Size: 42}) {
		t.Fatalf("Decode = %+v, %v", o, err)
	}
}

func TestPubSubNotification(t *testing.T) {
	payload, _ := json.Marshal(map[string]any{"size": "7"})
	msg := map[string]any{"message": map[string]any{"data": payload, "attributes": map[string]string{
		"eventType": "OBJECT_FINALIZE", "bucketId": "in", "objectId": "incoming/b.csv", "objectGeneration": "9", "payloadFormat": "JSON_API_V1",
	}}}
	o, err := Decode(newEvent(t, PubSubType, msg))
	if err != nil || o != (Object{Bucket: "in", Name: "incoming/b.csv", Generation: 9, Size: 7}) {
		t.Fatalf("Decode = %+v, %v", o, err)
	}
}

func TestIgnoredAndPoison(t *testing.T) {
	del := map[string]any{"message": map[string]any{"attributes": map[string]string{"eventType": "OBJECT_DELETE", "bucketId": "in", "objectId": "x", "objectGeneration": "1"}}}
	if _, err := Decode(newEvent(t, PubSubType, del)); !errors.Is(err, ErrIgnored) {
		t.Errorf("delete notification: %v", err)
	}
	if _, err := Decode(newEvent(t, "google.cloud.storage.object.v1.deleted", map[string]any{})); !errors.Is(err, ErrIgnored) {
		t.Errorf("other type: %v", err)
	}
	for name, data := range map[string]any{
		"no generation": map[string]any{"bucket": "in", "name": "a"},
		"no name":       map[string]any{"bucket": "in", "generation": "3"},
		"bad number":    map[string]any{"bucket": "in", "name": "a", "generation": "x"},
	} {
		if _, err := Decode(newEvent(t, FinalizedType, data)); err == nil || errors.Is(err, ErrIgnored) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"bucket":"b","name":"n","generation":"1"}`), true)
	f.Add([]byte(`{"message":{"attributes":{"eventType":"OBJECT_FINALIZE","bucketId":"b","objectId":"o","objectGeneration":"2"}}}`), false)
	f.Fuzz(func(t *testing.T, data []byte, eventarc bool) {
		e := event.New()
		e.SetID("1")
		e.SetSource("//f")
		e.SetType(PubSubType)
		if eventarc {
			e.SetType(FinalizedType)
		}
		e.DataEncoded = data
		o, err := Decode(e)
		if err == nil && (o.Bucket == "" || o.Name == "" || o.Generation <= 0) {
			t.Fatalf("accepted an incomplete object %+v", o)
		}
	})
}

func TestUnsafeNamesArePoison(t *testing.T) {
	for _, name := range []string{"incoming/../secrets.csv", "incoming//x.csv", "incoming/./x.csv", "incoming/x\n.csv", "/incoming/x.csv"} {
		e := newEvent(t, FinalizedType, map[string]any{"bucket": "in", "name": name, "generation": "1"})
		if _, err := Decode(e); err == nil || errors.Is(err, ErrIgnored) {
			t.Errorf("%q: %v", name, err)
		}
	}
	if SafeName("incoming/\xff.csv") {
		t.Error("invalid UTF-8 accepted")
	}
	if !SafeName("incoming/20260426-120000.csv") || !SafeName("受信/データ 1.csv") {
		t.Error("ordinary names rejected")
	}
}
