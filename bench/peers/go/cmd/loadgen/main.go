// loadgen: HTTP/2 over mTLS (a client SVID) against Envoy's shipped listener, which h2load and
// wrk cannot present. Two modes:
//
//	-rate 0 -concurrency C   closed loop: C requests always in flight (saturation)
//	-rate R                  open loop: one request every 1/R s whatever the answers do; latency
//	                         counts from the scheduled start, so a stall shows in p99 instead of
//	                         slowing the sender (no coordinated omission)
//
// Prints one JSON object: achieved rate, latency percentiles (ms), errors, status counts.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
)

type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

type result struct {
	Offered  float64        `json:"offered"`
	Rate     float64        `json:"rate"`
	Requests int            `json:"requests"`
	Errors   int            `json:"errors"`
	Dropped  int            `json:"dropped"`
	P50      float64        `json:"p50"`
	P90      float64        `json:"p90"`
	P99      float64        `json:"p99"`
	Max      float64        `json:"max"`
	Statuses map[string]int `json:"statuses"`
}

type recorder struct {
	mu        sync.Mutex
	recording bool
	lat       []time.Duration
	errors    int
	statuses  map[string]int
}

func (r *recorder) add(d time.Duration, status string, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.recording {
		return
	}
	r.statuses[status]++
	if !ok {
		r.errors++
		return
	}
	r.lat = append(r.lat, d)
}

func pct(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)-1))
	return float64(sorted[i].Microseconds()) / 1000
}

func main() {
	url := flag.String("url", "", "https://127.0.0.1:port/path")
	certFile := flag.String("cert", "", "client certificate (PEM)")
	keyFile := flag.String("key", "", "client key (PEM)")
	caFile := flag.String("ca", "", "bundle the server is verified against")
	serverName := flag.String("server-name", "localhost", "TLS server name to verify")
	conns := flag.Int("connections", 2, "HTTP/2 connections")
	rate := flag.Float64("rate", 0, "requests/s (open loop); 0: closed loop")
	concurrency := flag.Int("concurrency", 64, "requests in flight (closed loop)")
	maxInFlight := flag.Int("max-in-flight", 4096, "open loop: a request beyond this is dropped and counted")
	duration := flag.Duration("duration", 5*time.Second, "measured time")
	warmup := flag.Duration("warmup", time.Second, "unmeasured time before")
	expect := flag.Int("expect", 200, "the status that counts as success")
	tokens := flag.String("tokens", "", "file of '<session> <Authorization value>' lines, one per request; {session} in -url is replaced")
	var headers headerFlags
	flag.Var(&headers, "H", "extra request header 'name: value' (repeatable)")
	flag.Parse()

	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		log.Fatal(err)
	}
	pem, err := os.ReadFile(*caFile)
	if err != nil {
		log.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	var auth, sessions []string
	if *tokens != "" {
		f, err := os.Open(*tokens)
		if err != nil {
			log.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64*1024), 64*1024)
		for sc.Scan() {
			session, value, _ := strings.Cut(sc.Text(), " ")
			sessions = append(sessions, session)
			auth = append(auth, value)
		}
		f.Close()
	}
	// One transport per connection: each holds one HTTP/2 connection (Envoy allows unlimited
	// concurrent streams), so the load spreads over exactly -connections connections.
	clients := make([]*http.Client, *conns)
	for i := range clients {
		clients[i] = &http.Client{Transport: &http2.Transport{TLSClientConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			RootCAs:      pool,
			ServerName:   *serverName,
			MinVersion:   tls.VersionTLS13,
		}}}
	}
	var seq atomic.Int64
	do := func(ctx context.Context) (string, bool) {
		n := seq.Add(1) - 1
		target := *url
		if auth != nil {
			if int(n) >= len(auth) {
				return "tokens-exhausted", false
			}
			target = strings.ReplaceAll(target, "{session}", sessions[n])
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		for _, h := range headers {
			k, v, _ := strings.Cut(h, ":")
			req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
		}
		if auth != nil {
			req.Header.Set("Authorization", auth[n])
		}
		resp, err := clients[int(n)%len(clients)].Do(req)
		if err != nil {
			return "error", false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return fmt.Sprint(resp.StatusCode), resp.StatusCode == *expect
	}
	// Open every connection before the clock starts (round robin: one request each).
	for range clients {
		if status, _ := do(context.Background()); status == "error" {
			log.Fatal("first request failed")
		}
	}

	rec := &recorder{statuses: map[string]int{}}
	ctx, cancel := context.WithTimeout(context.Background(), *warmup+*duration+30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	start := time.Now()
	measureFrom := start.Add(*warmup)
	end := measureFrom.Add(*duration)
	go func() {
		time.Sleep(time.Until(measureFrom))
		rec.mu.Lock()
		rec.recording = true
		rec.mu.Unlock()
	}()
	dropped := 0
	if *rate > 0 {
		interval := time.Duration(float64(time.Second) / *rate)
		var inFlight atomic.Int64
		for i := 0; ; i++ {
			at := start.Add(time.Duration(i) * interval)
			if !at.Before(end) {
				break
			}
			if d := time.Until(at); d > 0 {
				time.Sleep(d)
			}
			if inFlight.Load() >= int64(*maxInFlight) {
				if !at.Before(measureFrom) {
					dropped++
				}
				continue
			}
			inFlight.Add(1)
			wg.Add(1)
			go func(at time.Time) {
				defer wg.Done()
				defer inFlight.Add(-1)
				status, ok := do(ctx)
				rec.add(time.Since(at), status, ok)
			}(at)
		}
	} else {
		for w := 0; w < *concurrency; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(end) {
					t0 := time.Now()
					status, ok := do(ctx)
					if status == "tokens-exhausted" {
						return // the pool is the run's length: stop, don't spin
					}
					rec.add(time.Since(t0), status, ok)
				}
			}()
		}
	}
	// The measured window closes at `end`: answers that arrive later still count (open loop:
	// their latency is real), but the rate is over the window.
	wg.Wait()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	sort.Slice(rec.lat, func(a, b int) bool { return rec.lat[a] < rec.lat[b] })
	n := len(rec.lat) + rec.errors
	out := result{
		Offered:  *rate,
		Rate:     float64(len(rec.lat)) / duration.Seconds(),
		Requests: n,
		Errors:   rec.errors + dropped,
		Dropped:  dropped,
		P50:      pct(rec.lat, 0.50),
		P90:      pct(rec.lat, 0.90),
		P99:      pct(rec.lat, 0.99),
		Statuses: rec.statuses,
	}
	if len(rec.lat) > 0 {
		out.Max = float64(rec.lat[len(rec.lat)-1].Microseconds()) / 1000
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
