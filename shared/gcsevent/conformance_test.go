package gcsevent

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/dropcast/dropcast/shared/conformance"
)

// The documented finalized event decodes to its object, the generation and
// size read from their JSON strings.
func TestConformanceStorageFinalized(t *testing.T) {
	f := conformance.Load(t, "eventarc-storage-finalized")
	raw := f.MustFile(t, "event.json")
	var e event.Event
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Data struct{ Bucket, Name, Generation, Size string }
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	gen, _ := strconv.ParseInt(doc.Data.Generation, 10, 64)
	size, _ := strconv.ParseInt(doc.Data.Size, 10, 64)
	want := Object{Bucket: doc.Data.Bucket, Name: doc.Data.Name, Generation: gen, Size: size}
	o, err := Decode(e)
	if err != nil || o != want || gen == 0 || size == 0 {
		t.Fatalf("Decode = %+v, %v; want %+v", o, err, want)
	}
}

// A documented Cloud Storage notification, wrapped in the documented
// messagePublished envelope, decodes to its object: bucket, name and
// generation from the attributes, size from the JSON_API_V1 payload.
func TestConformanceGCSNotification(t *testing.T) {
	n := conformance.Load(t, "pubsub-gcs-notification")
	env := conformance.Load(t, "eventarc-pubsub-message-published")
	attrs := n.MustFile(t, "attributes.json")
	payload := n.MustFile(t, "payload.json")
	var data map[string]any
	if err := json.Unmarshal(env.MustFile(t, "data.json"), &data); err != nil {
		t.Fatal(err)
	}
	msg := data["message"].(map[string]any)
	var a map[string]string
	if err := json.Unmarshal(attrs, &a); err != nil {
		t.Fatal(err)
	}
	msg["attributes"], msg["data"] = a, payload // []byte: base64, as documented
	body, _ := json.Marshal(data)
	e := event.New()
	e.SetID("1")
	e.SetSource("//pubsub.googleapis.com/projects/my-project/topics/my-topic")
	e.SetType(PubSubType)
	if err := e.SetData("application/json", body); err != nil {
		t.Fatal(err)
	}
	var p struct{ Size string }
	json.Unmarshal(payload, &p)
	gen, _ := strconv.ParseInt(a["objectGeneration"], 10, 64)
	size, _ := strconv.ParseInt(p.Size, 10, 64)
	want := Object{Bucket: a["bucketId"], Name: a["objectId"], Generation: gen, Size: size}
	o, err := Decode(e)
	if err != nil || o != want || size == 0 {
		t.Fatalf("Decode = %+v, %v; want %+v", o, err, want)
	}
}
