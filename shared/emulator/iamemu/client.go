package iamemu

import (
	"context"

	"golang.org/x/oauth2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
)

// ClientOptions make a Google REST client (storage, bigquery) send identity
// as the bearer token of every request, the way an emulator with an
// Authorizer reads it (IdentityFromHTTP). Use them instead of
// option.WithoutAuthentication, next to option.WithEndpoint.
//
// The token travels over the emulator's plain http: google.golang.org/api
// attaches a token source's token whatever the endpoint's scheme (its HTTP
// transport has no TLS requirement, unlike gRPC per-call credentials), and
// the static token never expires, so no token endpoint is ever called.
// client_test.go proves both with the real storage and BigQuery clients.
// An empty identity sends no token (option.WithoutAuthentication).
func ClientOptions(identity string) []option.ClientOption {
	if identity == "" {
		return []option.ClientOption{option.WithoutAuthentication()}
	}
	return []option.ClientOption{
		option.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: identity, TokenType: "Bearer"})),
	}
}

// GRPCDialOption makes a gRPC client (pubsub, cloudtasks…) send identity as
// the bearer token of every call (IdentityFromGRPC), over the emulators'
// plaintext connections. Pass it with option.WithGRPCDialOption, next to
// option.WithoutAuthentication and insecure transport credentials.
func GRPCDialOption(identity string) grpc.DialOption {
	return grpc.WithPerRPCCredentials(bearerCreds(identity))
}

// bearerCreds are per-call credentials that do not require TLS: gRPC refuses
// to send credentials whose RequireTransportSecurity is true over an
// insecure connection.
type bearerCreds string

func (b bearerCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearerCreds) RequireTransportSecurity() bool { return false }
