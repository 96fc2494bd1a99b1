// Command standin plays the platform's frontend and APIs in the real-pod test cluster: one
// image, whose role follows from the environment the chart gives each container. Each role
// does its service's part of the architecture's request flow, nothing more:
//
//   - frontend (NEXT_PUBLIC_BASE_URL is set): serves /api/health on $PORT; /api/data asks
//     Kratos for the caller's session, then calls the core model API with it.
//   - API (anything else): serves /healthz on :8080 once Vault Agent's database URL can be
//     read; /v1/data validates the caller's session with Kratos, then queries PostgreSQL with
//     the credentials Vault rendered.
//
// Subcommands for the tests' kubectl exec: `dial HOST:PORT` (exit 0 when a TCP connection
// opens, 1 otherwise) and `lookup NAME`; `pause` is the sandbox image's process.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

func main() {
	if len(os.Args) > 1 {
		os.Exit(subcommand(os.Args[1], os.Args[2:]))
	}
	mux := http.NewServeMux()
	addr := ":8080"
	if os.Getenv("NEXT_PUBLIC_BASE_URL") != "" {
		addr = ":" + envOr("PORT", "3000")
		mux.HandleFunc("/api/health", ok)
		mux.HandleFunc("/api/data", frontendData)
	} else {
		mux.HandleFunc("/healthz", apiHealth)
		mux.HandleFunc("/v1/data", apiData)
	}
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	fmt.Println("standin listening on", addr)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func subcommand(name string, args []string) int {
	switch {
	case name == "pause":
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
		<-stop
		return 0
	case name == "dial" && len(args) == 1:
		conn, err := net.DialTimeout("tcp", args[0], 3*time.Second)
		if err != nil {
			fmt.Println("refused:", err)
			return 1
		}
		conn.Close()
		fmt.Println("connected")
		return 0
	case name == "lookup" && len(args) == 1:
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		addrs, err := net.DefaultResolver.LookupHost(ctx, args[0])
		if err != nil {
			fmt.Println("no answer:", err)
			return 1
		}
		fmt.Println(strings.Join(addrs, " "))
		return 0
	}
	fmt.Fprintln(os.Stderr, "usage: standin [pause | dial HOST:PORT | lookup NAME]")
	return 2
}

func ok(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// session asks Kratos' public API who holds the request's session token.
func session(r *http.Request) (map[string]any, error) {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, strings.TrimSuffix(os.Getenv("KRATOS_PUBLIC_URL"), "/")+"/sessions/whoami", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Session-Token", r.Header.Get("X-Session-Token"))
	var who map[string]any
	if err := getJSON(req, &who); err != nil {
		return nil, fmt.Errorf("kratos: %w", err)
	}
	return who, nil
}

func getJSON(req *http.Request, into any) error {
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, body)
	}
	return json.Unmarshal(body, into)
}

func fail(w http.ResponseWriter, code int, err error) {
	http.Error(w, err.Error(), code)
}

func frontendData(w http.ResponseWriter, r *http.Request) {
	if _, err := session(r); err != nil {
		fail(w, http.StatusUnauthorized, err)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, os.Getenv("CORE_MODEL_API_URL")+"/v1/data", nil)
	if err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	req.Header.Set("X-Session-Token", r.Header.Get("X-Session-Token"))
	var data map[string]any
	if err := getJSON(req, &data); err != nil {
		fail(w, http.StatusBadGateway, fmt.Errorf("core model API: %w", err))
		return
	}
	data["via"] = "frontend"
	writeJSON(w, data)
}

func databaseURL() (string, error) {
	if f := os.Getenv("DATABASE_URL_FILE"); f != "" {
		b, err := os.ReadFile(f)
		return strings.TrimSpace(string(b)), err
	}
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u, nil
	}
	return "", fmt.Errorf("neither DATABASE_URL_FILE nor DATABASE_URL is set")
}

func apiHealth(w http.ResponseWriter, _ *http.Request) {
	if _, err := databaseURL(); err != nil {
		fail(w, http.StatusServiceUnavailable, err)
		return
	}
	ok(w, nil)
}

func apiData(w http.ResponseWriter, r *http.Request) {
	who, err := session(r)
	if err != nil {
		fail(w, http.StatusUnauthorized, err)
		return
	}
	dsn, err := databaseURL()
	if err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		fail(w, http.StatusBadGateway, fmt.Errorf("postgres: %w", err))
		return
	}
	defer conn.Close(context.Background())
	var user, db, searchPath string
	err = conn.QueryRow(ctx, "SELECT current_user, current_database(), current_setting('search_path')").Scan(&user, &db, &searchPath)
	if err != nil {
		fail(w, http.StatusBadGateway, fmt.Errorf("postgres: %w", err))
		return
	}
	identity, _ := who["identity"].(map[string]any)
	writeJSON(w, map[string]any{"identity": identity["id"], "database_user": user, "database": db,
		"search_path": searchPath, "tenant": os.Getenv("TENANT")})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
