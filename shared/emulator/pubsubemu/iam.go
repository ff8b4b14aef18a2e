package pubsubemu

import (
	"context"
	"sync"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc"

	"github.com/dropcast/dropcast/shared/emulator/iamemu"
)

// IAM in the emulator. pstest takes no gRPC server options and its reactors
// see a request without its metadata, so the emulator serves pstest's own
// implementation (pstest.Server.GServer) from a second gRPC server of its
// own, whose interceptor checks each call for the identity its bearer token
// names (iamemu.IdentityFromGRPC). That server's address is Addr; pstest's
// own listener is used only by the emulator's client (Client: topic and
// subscription setup, the Eventarc bridges, tests), which is not checked:
// pulling on Eventarc's subscriptions is Eventarc's part, not a function's.
//
// Method → permission: https://cloud.google.com/pubsub/docs/access-control,
// "Required permissions", a table of "REST method | Required permissions"
// whose rows name the permission and the resource it is checked on (in
// the stored copies consulted, the Korean and Japanese versions, e.g.
// "projects.snapshots.delete | 요청한 스냅샷에 대한 pubsub.snapshots.delete
// 권한" — pubsub.snapshots.delete on the requested snapshot). The
// projects.topics.publish row itself was not in those excerpts: that
// Publish needs pubsub.topics.publish on the topic rests on the permission's
// name and on roles/pubsub.publisher, and should be checked against the
// page. Publish is the one call functions make (shared/events); other
// methods pass unchecked.
//
// A refusal is the gRPC status PERMISSION_DENIED naming the permission
// (iamemu.Denied.GRPCStatus).

// authz holds the Authorizer (nil: no checks).
type authz struct {
	mu sync.RWMutex
	a  iamemu.Authorizer
}

// SetAuthorizer makes the emulator check every Publish made through Addr
// with a (nil: no checks, the default).
func (s *Server) SetAuthorizer(a iamemu.Authorizer) {
	s.authz.mu.Lock()
	defer s.authz.mu.Unlock()
	s.authz.a = a
}

func (s *Server) authorizer() iamemu.Authorizer {
	s.authz.mu.RLock()
	defer s.authz.mu.RUnlock()
	return s.authz.a
}

// checkUnary is the front server's interceptor.
func (s *Server) checkUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	if a := s.authorizer(); a != nil && info.FullMethod == pubsubpb.Publisher_Publish_FullMethodName {
		if r, ok := req.(*pubsubpb.PublishRequest); ok {
			// The topic's full name is the resource: projects/P/topics/T.
			if err := a.Check(iamemu.IdentityFromGRPC(ctx), "pubsub.topics.publish", r.Topic); err != nil {
				return nil, err
			}
		}
	}
	if err := s.injectPublish(ctx, info.FullMethod, req); err != nil {
		return nil, err
	}
	return next(ctx, req)
}
