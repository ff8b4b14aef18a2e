package iamemu

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Need is one permission a call needs on one resource.
type Need struct{ Permission, Resource string }

// UnaryInterceptor checks every call of the gRPC emulator named name before
// serving it: needs says what a call of method (its full gRPC name) needs,
// and ok false that the emulator has no rule for it, which is refused with
// Unimplemented (fail closed: a method nobody mapped is not served under
// enforcement). authz is read per call; nil serves every call unchecked.
func UnaryInterceptor(name string, authz func() Authorizer, needs func(method string, req any) (_ []Need, ok bool)) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		az := authz()
		if az == nil {
			return handler(ctx, req)
		}
		ns, ok := needs(info.FullMethod, req)
		if !ok {
			return nil, status.Errorf(codes.Unimplemented, "%s: %s has no IAM rule", name, info.FullMethod)
		}
		id := IdentityFromGRPC(ctx)
		for _, n := range ns {
			if err := az.Check(id, n.Permission, n.Resource); err != nil {
				return nil, err
			}
		}
		return handler(ctx, req)
	}
}

// ProjectResource is the IAM resource of a request name checked at the
// project: projects/ID for any projects/ID-or-NUMBER/... name (number is the
// project's number, which Google's answers carry).
func ProjectResource(name, id, number string) string {
	parts := strings.SplitN(name, "/", 3)
	if len(parts) < 2 || parts[0] != "projects" {
		return name
	}
	p := parts[1]
	if p == number {
		p = id
	}
	return "projects/" + p
}
