package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

var (
	redisPkg  = "github.com/redis/go-redis"
	pgxPkg    = "github.com/jackc/pgx"
	leavesPkg = "github.com/dmitryikh/leaves"
	grpcPkg   = "google.golang.org/grpc"
)

// rules maps a package (and, with "/...", its sub-packages) to the import
// path prefixes it must not depend on, directly or indirectly.
var rules = []struct {
	pkg       string
	forbidden []string
}{
	{"kairos/features", []string{redisPkg, pgxPkg, grpcPkg, leavesPkg}},
	{"kairos/features/storetest", []string{redisPkg, pgxPkg, grpcPkg}},
	{"kairos/features/memstore", []string{"kairos/features/redisstore", redisPkg, pgxPkg, grpcPkg}},
	{"kairos/features/redisstore", []string{"kairos/features/memstore", pgxPkg, grpcPkg}},
	// The domain root reads model files through an injected Parser;
	// models/lgbm is the adapter to leaves.
	{"kairos/models", []string{redisPkg, pgxPkg, grpcPkg, leavesPkg, "kairos/models/lgbm"}},
	// The simulator is a world, not a client: the command connects it.
	{"kairos/internal/sim", []string{redisPkg, pgxPkg, grpcPkg, "kairos/training", "kairos/features/redisstore", "kairos/features/memstore"}},
	// The archive and the export read the event log and the archive only
	// through features' interfaces. (gRPC is not forbidden: arrow-go's
	// Parquet package depends on Arrow Flight.)
	{"kairos/training/...", []string{redisPkg, pgxPkg, leavesPkg, "kairos/features/redisstore", "kairos/features/memstore", "kairos/internal/server"}},
	// The engine declares the interfaces it consumes (State, Scorer,
	// PolicyStore, Windows); the adapters implement them.
	{"kairos/decisioning", []string{redisPkg, pgxPkg, grpcPkg, leavesPkg, "kairos/decisioning/memstate", "kairos/decisioning/redisstate", "kairos/ledger", "kairos/models/lgbm"}},
	{"kairos/decisioning/memstate", []string{"kairos/decisioning/redisstate", redisPkg, pgxPkg, grpcPkg}},
	{"kairos/decisioning/redisstate", []string{"kairos/decisioning/memstate", pgxPkg, grpcPkg}},
	{"kairos/decisioning/dispatchtest", []string{"kairos/decisioning/memstate", "kairos/decisioning/redisstate", redisPkg, pgxPkg, grpcPkg}},
	// The ledger's root is pure; pgledger is its PostgreSQL adapter.
	{"kairos/ledger", []string{pgxPkg, redisPkg, grpcPkg, leavesPkg, "kairos/ledger/pgledger"}},
	{"kairos/ledger/ledgertest", []string{pgxPkg, redisPkg, grpcPkg}},
	{"kairos/ledger/pgledger", []string{redisPkg, grpcPkg, leavesPkg}},
	// Channels deliver messages; they know nothing of how decisions are
	// made or stored.
	{"kairos/channels", []string{redisPkg, pgxPkg, grpcPkg, leavesPkg, "kairos/decisioning/memstate", "kairos/decisioning/redisstate", "kairos/decisioning/bandit"}},
	{"kairos/channels/inapp", []string{redisPkg, pgxPkg, grpcPkg, "kairos/channels/inapp/redisinbox"}},
	{"kairos/channels/tracking", []string{redisPkg, pgxPkg, grpcPkg, "kairos/decisioning"}},
	{"kairos/channels/...", []string{pgxPkg, grpcPkg, leavesPkg, "kairos/decisioning/memstate", "kairos/decisioning/redisstate", "kairos/decisioning/bandit", "kairos/ledger"}},
	{"kairos/channels/inapp/redisinbox", []string{pgxPkg, grpcPkg, "kairos/decisioning/redisstate"}},
	// Measurement is statistics over records: no store, no transport.
	{"kairos/measurement", []string{redisPkg, pgxPkg, grpcPkg, leavesPkg, "kairos/decisioning/memstate", "kairos/decisioning/redisstate", "kairos/ledger/pgledger"}},
	// The dispatcher consumes decisioning.DispatchQueue; the stores
	// implement it, and the command wires them.
	{"kairos/dispatch", []string{pgxPkg, grpcPkg, leavesPkg, "kairos/decisioning/memstate", "kairos/decisioning/redisstate", "kairos/features/redisstore", "kairos/features/memstore", "kairos/ledger/pgledger"}},
}

// TestBanditImportsOnlyGonum: decisioning/bandit depends on nothing but the
// standard library and gonum (ARCHITECTURE.md), so it stays a pure policy
// library.
func TestBanditImportsOnlyGonum(t *testing.T) {
	depsOnly(t, "kairos/decisioning/bandit", "gonum.org/v1/gonum")
}

// TestYamlconfImportsOnlyYAML: internal/yamlconf, the scaffolding of the
// configuration parsers, depends on nothing but the standard library and
// yaml.v3, so that every package may use it.
func TestYamlconfImportsOnlyYAML(t *testing.T) {
	depsOnly(t, "kairos/internal/yamlconf", "go.yaml.in/yaml/v3")
}

// depsOnly checks that pkg depends on nothing but the standard library and
// the packages under allowed.
func depsOnly(t *testing.T, pkg, allowed string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		first, _, _ := strings.Cut(dep, "/")
		std := !strings.Contains(first, ".") && first != "kairos"
		if !std && dep != allowed && !strings.HasPrefix(dep, allowed+"/") && dep != pkg {
			t.Errorf("%s depends on %s; only the standard library and %s are allowed", strings.TrimPrefix(pkg, "kairos/"), dep, allowed)
		}
	}
}

func TestImports(t *testing.T) {
	for _, r := range rules {
		out, err := exec.Command("go", "list", "-deps", r.pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", r.pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range r.forbidden {
				if dep == f || strings.HasPrefix(dep, f+"/") {
					t.Errorf("%s depends on %s; ARCHITECTURE.md forbids it (move that code to an adapter sub-package)", r.pkg, dep)
				}
			}
		}
	}
}

// TestLeavesOnlyInLgbm: models/lgbm is the only package that imports leaves
// (ARCHITECTURE.md); everything else scores through it.
func TestLeavesOnlyInLgbm(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "kairos/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		for _, imp := range fields[1:] {
			if strings.HasPrefix(imp, leavesPkg) && fields[0] != "kairos/models/lgbm" {
				t.Errorf("%s imports %s; only kairos/models/lgbm may", fields[0], imp)
			}
		}
	}
}
