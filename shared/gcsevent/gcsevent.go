// Package gcsevent decodes the two CloudEvents that announce a new object: an
// Eventarc google.cloud.storage.object.v1.finalized event, and a Cloud Storage
// Pub/Sub notification delivered as google.cloud.pubsub.topic.v1.messagePublished.
package gcsevent

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/event"
)

// CloudEvent types handled.
const (
	FinalizedType = "google.cloud.storage.object.v1.finalized"
	PubSubType    = "google.cloud.pubsub.topic.v1.messagePublished"
)

// Object is a finalized object.
type Object struct {
	Bucket     string
	Name       string
	Generation int64
	Size       int64
}

// ErrIgnored marks an event that is not an object finalization (a delete, a
// metadata update…): nothing to do.
var ErrIgnored = errors.New("not an object finalize event")

// Decode returns the object an event announces. It returns ErrIgnored for
// other kinds of event, and another error for a malformed one (poison: a
// retry cannot help).
func Decode(e event.Event) (Object, error) {
	switch e.Type() {
	case FinalizedType:
		var d storageObjectData
		if err := json.Unmarshal(e.Data(), &d); err != nil {
			return Object{}, fmt.Errorf("decode %s data: %w", e.Type(), err)
		}
		return d.object()
	case PubSubType:
		var m pubsubMessage
		if err := json.Unmarshal(e.Data(), &m); err != nil {
			return Object{}, fmt.Errorf("decode %s data: %w", e.Type(), err)
		}
		return m.object()
	default:
		return Object{}, fmt.Errorf("%w: event type %q", ErrIgnored, e.Type())
	}
}

// storageObjectData is the part of google.events.cloud.storage.v1.StorageObjectData
// used here; int64 fields arrive as JSON strings (protojson).
type storageObjectData struct {
	Bucket     string  `json:"bucket"`
	Name       string  `json:"name"`
	Generation flexInt `json:"generation"`
	Size       flexInt `json:"size"`
}

func (d storageObjectData) object() (Object, error) {
	o := Object{Bucket: d.Bucket, Name: d.Name, Generation: int64(d.Generation), Size: int64(d.Size)}
	return o, o.check()
}

// pubsubMessage is google.events.cloud.pubsub.v1.MessagePublishedData.
type pubsubMessage struct {
	Message struct {
		Attributes map[string]string `json:"attributes"`
		Data       []byte            `json:"data"`
	} `json:"message"`
}

func (m pubsubMessage) object() (Object, error) {
	a := m.Message.Attributes
	if t := a["eventType"]; t != "OBJECT_FINALIZE" {
		return Object{}, fmt.Errorf("%w: notification eventType %q", ErrIgnored, t)
	}
	gen, err := strconv.ParseInt(a["objectGeneration"], 10, 64)
	if err != nil {
		return Object{}, fmt.Errorf("notification objectGeneration %q: %w", a["objectGeneration"], err)
	}
	o := Object{Bucket: a["bucketId"], Name: a["objectId"], Generation: gen}
	if a["payloadFormat"] == "JSON_API_V1" && len(m.Message.Data) > 0 {
		var d storageObjectData
		if err := json.Unmarshal(m.Message.Data, &d); err == nil {
			o.Size = int64(d.Size)
		}
	}
	return o, o.check()
}

func (o Object) check() error {
	switch {
	case o.Bucket == "":
		return errors.New("event names no bucket")
	case o.Name == "":
		return errors.New("event names no object")
	case o.Generation <= 0:
		return fmt.Errorf("event for gs://%s/%s has no generation", o.Bucket, o.Name)
	case !SafeName(o.Name):
		return fmt.Errorf("object name %q is not safe to process (dot segments, control characters or invalid UTF-8)", o.Name)
	}
	return nil
}

// SafeName reports whether an object name is safe to derive paths from: valid
// UTF-8, no control characters, no empty, "." or ".." segments, at most 1024 bytes.
func SafeName(name string) bool {
	if name == "" || len(name) > 1024 || !utf8.ValidString(name) {
		return false
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return false
		}
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// flexInt decodes an int64 written as a JSON number or string.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s == "" {
			return nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		*f = flexInt(n)
		return err
	}
	var n int64
	err := json.Unmarshal(b, &n)
	*f = flexInt(n)
	return err
}
