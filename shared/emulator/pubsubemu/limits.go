package pubsubemu

import (
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Pub/Sub's limits on a published message
// (https://cloud.google.com/pubsub/quotas#resource_limits), which pstest
// does not check.
const (
	MaxAttributes     = 100
	MaxAttributeKey   = 256  // bytes
	MaxAttributeValue = 1024 // bytes
	MaxMessageBytes   = 10_000_000
)

// publishLimits refuses, with INVALID_ARGUMENT as Pub/Sub does, a publish
// request holding a message that breaks a limit, or that has neither data
// nor attributes ("The message must contain either a non-empty data field or
// at least one attribute", google/pubsub/v1/pubsub.proto).
func publishLimits() pstest.ServerReactorOption {
	return pstest.ServerReactorOption{FuncName: "Publish", Reactor: limitReactor{}}
}

type limitReactor struct{}

func (limitReactor) React(req any) (bool, any, error) {
	r, ok := req.(*pubsubpb.PublishRequest)
	if !ok {
		return false, nil, nil
	}
	for _, m := range r.Messages {
		if err := CheckMessage(m); err != nil {
			return true, nil, err
		}
	}
	return false, nil, nil
}

// CheckMessage returns the INVALID_ARGUMENT status Pub/Sub answers for a
// message that breaks its limits, or nil.
func CheckMessage(m *pubsubpb.PubsubMessage) error {
	if len(m.Data) == 0 && len(m.Attributes) == 0 {
		return status.Error(codes.InvalidArgument, "Some messages are empty. Each message must contain non-empty data, or at least one attribute.")
	}
	if len(m.Attributes) > MaxAttributes {
		return status.Errorf(codes.InvalidArgument, "A message has %d attributes; the maximum allowed is %d. Refer to https://cloud.google.com/pubsub/quotas for more information.", len(m.Attributes), MaxAttributes)
	}
	size := len(m.Data)
	for k, v := range m.Attributes {
		if len(k) > MaxAttributeKey {
			return status.Errorf(codes.InvalidArgument, "One of the attributes in the request has a key that is too long. The length is %d characters, but the maximum allowed is %d. Refer to https://cloud.google.com/pubsub/quotas for more information.", len(k), MaxAttributeKey)
		}
		if len(v) > MaxAttributeValue {
			return status.Errorf(codes.InvalidArgument, "One of the attributes in the request has a value that is too long. The length is %d characters, but the maximum allowed is %d. Refer to https://cloud.google.com/pubsub/quotas for more information.", len(v), MaxAttributeValue)
		}
		size += len(k) + len(v)
	}
	if size > MaxMessageBytes {
		return status.Errorf(codes.InvalidArgument, "A message is %d bytes; the maximum allowed is %d. Refer to https://cloud.google.com/pubsub/quotas for more information.", size, MaxMessageBytes)
	}
	return nil
}
