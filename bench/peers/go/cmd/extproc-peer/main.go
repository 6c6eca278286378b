// extproc-peer: the Go (grpc-go) ext_proc server the benchmarks compare extproc-authz with.
//
//	-mode noop   answers every request_headers with CONTINUE and no mutation
//	-mode spiffe the check extproc-authz's spiffe-allow scenario does: the peer's SPIFFE ID
//	             (connection.uri_san_peer_certificate from Envoy's attributes) under a prefix
//	             (segment boundary) -> CONTINUE, setting x-spiffe-id and removing
//	             x-runner-session-id and authorization; otherwise a 403 ImmediateResponse.
//
// With -cert/-key/-ca it serves TLS 1.3 and requires a client certificate from the bundle whose
// URI SAN is -peer (Envoy's SVID), as extproc-authz does with lab/config.yaml. Prints one JSON
// line whose msg ends in "serving" once it listens (the local lab waits for it).
package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/structpb"
)

const attrFilter = "envoy.filters.http.ext_proc"
const peerAttr = "connection.uri_san_peer_certificate"

type server struct {
	extprocv3.UnimplementedExternalProcessorServer
	mode   string
	prefix string
}

func (s *server) Process(stream extprocv3.ExternalProcessor_ProcessServer) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		var resp *extprocv3.ProcessingResponse
		switch req.Request.(type) {
		case *extprocv3.ProcessingRequest_RequestHeaders:
			if s.mode == "spiffe" {
				resp = s.decide(req)
			} else {
				resp = cont(nil)
			}
		default:
			// The shipped processing_mode sends request headers only; anything else is a protocol
			// error, as in extproc-authz (fail closed: Envoy answers 500).
			return fmt.Errorf("unexpected message %T", req.Request)
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

func cont(m *extprocv3.HeaderMutation) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestHeaders{
		RequestHeaders: &extprocv3.HeadersResponse{Response: &extprocv3.CommonResponse{HeaderMutation: m}},
	}}
}

func (s *server) peerID(req *extprocv3.ProcessingRequest) string {
	attrs, ok := req.Attributes[attrFilter]
	if !ok {
		return ""
	}
	v, ok := attrs.Fields[peerAttr]
	if !ok {
		return ""
	}
	if sv, ok := v.Kind.(*structpb.Value_StringValue); ok {
		return sv.StringValue
	}
	return ""
}

func (s *server) decide(req *extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse {
	id := s.peerID(req)
	if strings.HasPrefix(id, s.prefix) && (len(id) == len(s.prefix) || id[len(s.prefix)] == '/') {
		return cont(&extprocv3.HeaderMutation{
			SetHeaders: []*corev3.HeaderValueOption{{
				Header:       &corev3.HeaderValue{Key: "x-spiffe-id", RawValue: []byte(id)},
				AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
			}},
			RemoveHeaders: []string{"x-runner-session-id", "authorization"},
		})
	}
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{
		ImmediateResponse: &extprocv3.ImmediateResponse{
			Status: &typev3.HttpStatus{Code: typev3.StatusCode_Forbidden},
			Headers: &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{{
				Header: &corev3.HeaderValue{Key: "content-type", RawValue: []byte("application/json")},
			}}},
			Body:    []byte(`{"error":"forbidden","reason":"spiffe_id_not_allowed"}`),
			Details: "go_peer_spiffe_id_not_allowed",
		},
	}}
}

func tlsConfig(certFile, keyFile, caFile, peer string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificates in %s", caFile)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
		// Only Envoy's SVID may open a stream (lab/config.yaml: allowed_peers).
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no client certificate")
			}
			uris := cs.PeerCertificates[0].URIs
			if len(uris) != 1 || uris[0].String() != peer {
				return errors.New("client is not the allowed peer")
			}
			return nil
		},
	}, nil
}

func main() {
	mode := flag.String("mode", "noop", "noop | spiffe")
	listen := flag.String("listen", "127.0.0.1:0", "host:port")
	prefix := flag.String("prefix", "spiffe://example.org/ns/ci", "allowed SPIFFE ID prefix (-mode spiffe)")
	certFile := flag.String("cert", "", "serving certificate (PEM); empty: plaintext h2c")
	keyFile := flag.String("key", "", "serving key (PEM)")
	caFile := flag.String("ca", "", "bundle clients are verified against")
	peer := flag.String("peer", "spiffe://example.org/envoy", "the only client SPIFFE ID accepted")
	flag.Parse()
	if *mode != "noop" && *mode != "spiffe" {
		log.Fatalf("unknown -mode %q", *mode)
	}
	var opts []grpc.ServerOption
	if *certFile != "" {
		cfg, err := tlsConfig(*certFile, *keyFile, *caFile, *peer)
		if err != nil {
			log.Fatal(err)
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg)))
	}
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	extprocv3.RegisterExternalProcessorServer(srv, &server{mode: *mode, prefix: strings.TrimSuffix(*prefix, "/")})
	// Envoy's processor cluster health-checks with grpc.health.v1 (envoy/envoy.yaml).
	healthpb.RegisterHealthServer(srv, health.NewServer())
	fmt.Printf("{\"msg\":\"go extproc-peer %s serving\",\"port\":%d}\n", *mode, lis.Addr().(*net.TCPAddr).Port)
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		srv.Stop()
	}()
	if err := srv.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		log.Fatal(err)
	}
}
