package iamemu

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"cloud.google.com/go/storage"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// seen records the identity of every request a test server receives.
type clientSeen struct {
	mu  sync.Mutex
	ids []string
}

func (s *clientSeen) handler(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.ids = append(s.ids, IdentityFromHTTP(r))
	s.mu.Unlock()
	http.Error(w, `{"error":{"code":404,"message":"no","errors":[{"reason":"notFound","message":"no"}]}}`, http.StatusNotFound)
}

func (s *clientSeen) all(t *testing.T, want string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ids) == 0 {
		t.Fatal("the server received no request")
	}
	for _, id := range s.ids {
		if id != want {
			t.Fatalf("identities %q, want every one %q", s.ids, want)
		}
	}
}

func TestClientOptionsSendIdentityOverPlainHTTP(t *testing.T) {
	const who = "load@p.iam.gserviceaccount.com"
	ctx := context.Background()

	var gcs clientSeen
	srv := httptest.NewServer(http.HandlerFunc(gcs.handler))
	defer srv.Close()
	sc, err := storage.NewClient(ctx, append(ClientOptions(who), option.WithEndpoint(srv.URL+"/storage/v1/"), storage.WithJSONReads())...)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if _, err := sc.Bucket("b").Object("o").Attrs(ctx); err == nil {
		t.Fatal("want the test server's 404")
	}
	gcs.all(t, who)

	var bq clientSeen
	srv2 := httptest.NewServer(http.HandlerFunc(bq.handler))
	defer srv2.Close()
	bc, err := bigquery.NewClient(ctx, "p", append(ClientOptions(who), option.WithEndpoint(srv2.URL+"/bigquery/v2/"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer bc.Close()
	if _, err := bc.Dataset("d").Metadata(ctx); err == nil {
		t.Fatal("want the test server's 404")
	}
	bq.all(t, who)
}

func TestGRPCDialOptionSendsIdentityOverPlaintext(t *testing.T) {
	const who = "notify@p.iam.gserviceaccount.com"
	ctx := context.Background()
	var (
		mu  sync.Mutex
		got []string
	)
	record := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		mu.Lock()
		got = append(got, IdentityFromGRPC(ctx))
		mu.Unlock()
		return next(ctx, req)
	}
	fake := pstest.NewServer()
	defer fake.Close()
	// A second gRPC server with the recording interceptor serves pstest's
	// own implementation.
	gs := grpc.NewServer(grpc.UnaryInterceptor(record))
	pubsubpb.RegisterPublisherServer(gs, &fake.GServer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(ln)
	defer gs.Stop()

	c, err := pubsub.NewClient(ctx, "p", option.WithEndpoint(ln.Addr().String()), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		option.WithGRPCDialOption(GRPCDialOption(who)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: "projects/p/topics/t"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0] != who {
		t.Fatalf("identities %q, want [%q]", got, who)
	}
}
