package server

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"kairos/features"
	"kairos/ledger"
)

// statusTable maps the domain's sentinel errors to what a client sees. It is
// the one place where errors become gRPC statuses (as pkgsite's derrors):
// handlers return domain errors and call (*Server).status at the edge.
// *features.FieldError, which carries its own message, is handled before it;
// anything not listed is Internal and its text never leaves the server.
var statusTable = []struct {
	err  error
	code codes.Code
	msg  string
}{
	{features.ErrUnavailable, codes.Unavailable, "feature store unavailable; retry later (Track is safe to retry with the same event ids)"},
	{ledger.ErrNotFound, codes.NotFound, "decision not found; a decision reaches the ledger within seconds of Decide, retry shortly"},
	{ledger.ErrUnavailable, codes.Unavailable, "decision ledger unavailable; retry later"},
	{errNoEngine, codes.Unimplemented, "decisioning is off on this server: its campaigns do not fit its feature definitions (see its startup log)"},
	{errNoInbox, codes.Unimplemented, "the in-app inbox is off on this server"},
	{context.DeadlineExceeded, codes.DeadlineExceeded, "deadline exceeded"},
	{context.Canceled, codes.Canceled, "request canceled"},
}

// errNoEngine is returned by Decide and ExplainDecision on a server built
// without an engine or ledger.
var errNoEngine = errors.New("server: decisioning not configured")

// errNoInbox is returned by GetInbox and AckInbox on a server built
// without an inbox store.
var errNoInbox = errors.New("server: inbox not configured")

// internalMsg is all a client learns of an unexpected error.
const internalMsg = "internal error"

// toStatus translates err by statusTable. internal is true when err is not a
// known domain error, i.e. a bug or an unexpected failure to be logged.
func toStatus(err error) (st *status.Status, internal bool) {
	var fe *features.FieldError
	if errors.As(err, &fe) {
		return status.New(codes.InvalidArgument, fe.Error()), false
	}
	for _, row := range statusTable {
		if errors.Is(err, row.err) {
			return status.New(row.code, row.msg), false
		}
	}
	return status.New(codes.Internal, internalMsg), true
}

// status converts a handler's error into the status returned to the
// client, logging it once: internal errors at error level with their real
// text, store outages at warn level.
func (s *Server) status(ctx context.Context, err error) error {
	st, internal := toStatus(err)
	method, _ := grpc.Method(ctx)
	switch {
	case internal:
		s.logger.LogAttrs(ctx, slog.LevelError, "internal error", slog.String("method", method), slog.Any("err", err))
	case st.Code() == codes.Unavailable:
		s.logger.LogAttrs(ctx, slog.LevelWarn, "store unavailable", slog.String("method", method), slog.Any("err", err))
	}
	return st.Err()
}
