package server

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	kairosv1 "kairos/api/proto/kairos/v1"
	"kairos/channels/inapp"
	"kairos/features"
)

// defaultInboxLimit is GetInbox's limit when the request gives none.
const defaultInboxLimit = 20

// GetInbox returns a customer's unexpired, unacknowledged in-app messages.
func (s *Server) GetInbox(ctx context.Context, req *kairosv1.GetInboxRequest) (*kairosv1.Inbox, error) {
	if s.inbox == nil {
		return nil, s.status(ctx, errNoInbox)
	}
	id := req.GetCustomerId()
	if fe := features.ValidateCustomerID("customer_id", id); fe != nil {
		return nil, s.status(ctx, fe)
	}
	limit := int(req.GetLimit())
	if limit == 0 {
		limit = defaultInboxLimit
	}
	if limit < 1 || limit > inapp.MaxList {
		return nil, s.status(ctx, &features.FieldError{Field: "limit", Rule: fmt.Sprintf("must be 1 to %d (0: %d)", inapp.MaxList, defaultInboxLimit)})
	}
	ms, err := s.inbox.List(ctx, id, limit, s.now())
	if err != nil {
		return nil, s.status(ctx, fmt.Errorf("server: inbox %q: %w", id, err))
	}
	out := &kairosv1.Inbox{CustomerId: id, Messages: make([]*kairosv1.InboxMessage, len(ms))}
	for i, m := range ms {
		out.Messages[i] = &kairosv1.InboxMessage{
			MessageId: m.ID, Campaign: m.Campaign, Offer: m.Offer, Title: m.Title, Body: m.Body, Data: m.Data,
			CreatedAt: timestamppb.New(m.CreatedAt), ExpiresAt: timestamppb.New(m.ExpiresAt),
		}
	}
	return out, nil
}

// AckInbox removes acknowledged messages from a customer's inbox.
func (s *Server) AckInbox(ctx context.Context, req *kairosv1.AckInboxRequest) (*kairosv1.AckInboxResponse, error) {
	if s.inbox == nil {
		return nil, s.status(ctx, errNoInbox)
	}
	id := req.GetCustomerId()
	if fe := features.ValidateCustomerID("customer_id", id); fe != nil {
		return nil, s.status(ctx, fe)
	}
	ids := req.GetMessageIds()
	if len(ids) == 0 || len(ids) > inapp.MaxList {
		return nil, s.status(ctx, &features.FieldError{Field: "message_ids", Rule: fmt.Sprintf("must hold 1 to %d ids, got %d", inapp.MaxList, len(ids))})
	}
	for i, m := range ids {
		if fe := features.ValidateCustomerID(fmt.Sprintf("message_ids[%d]", i), m); fe != nil {
			return nil, s.status(ctx, fe)
		}
	}
	n, err := s.inbox.Ack(ctx, id, ids)
	if err != nil {
		return nil, s.status(ctx, fmt.Errorf("server: ack inbox %q: %w", id, err))
	}
	return &kairosv1.AckInboxResponse{Acked: int32(n)}, nil
}
