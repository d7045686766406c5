package server

import (
	"maps"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	kairosv1 "kairos/api/proto/kairos/v1"
	"kairos/features"
)

// eventFromProto maps a proto event to the domain. A property value that is
// not a string, number or bool (null, list, struct, unset) becomes a
// features.Value of no kind, which Set.ValidateEvent rejects as
// "properties.<key>: must be a string, number or bool" — in its own order
// of checks, so the first rule broken is reported whatever the field.
func eventFromProto(pe *kairosv1.Event) (features.Event, *features.FieldError) {
	e := features.Event{
		ID:         pe.GetEventId(),
		CustomerID: pe.GetCustomerId(),
		Type:       pe.GetType(),
	}
	if ts := pe.GetTimestamp(); ts != nil {
		if err := ts.CheckValid(); err != nil {
			return e, &features.FieldError{Field: "timestamp", Rule: "must be a valid timestamp (seconds within years 1-9999, nanos 0-999999999)"}
		}
		e.Time = ts.AsTime()
	}
	if props := pe.GetProperties(); len(props) > 0 {
		e.Properties = make(map[string]features.Value, len(props))
		for k, v := range props {
			e.Properties[k] = valueFromProto(v)
		}
	}
	return e, nil
}

func valueFromProto(v *structpb.Value) features.Value {
	switch k := v.GetKind().(type) {
	case *structpb.Value_StringValue:
		return features.String(k.StringValue)
	case *structpb.Value_NumberValue:
		return features.Number(k.NumberValue)
	case *structpb.Value_BoolValue:
		return features.Bool(k.BoolValue)
	}
	return features.Value{}
}

// profileToProto maps a profile read for customerID to the API.
func profileToProto(customerID string, p features.Profile) *kairosv1.Profile {
	out := &kairosv1.Profile{
		CustomerId: customerID,
		Features:   make([]*kairosv1.Feature, len(p.Vector.Names)),
		Customer:   CustomerToProto(p.Customer),
	}
	for i, name := range p.Vector.Names {
		out.Features[i] = &kairosv1.Feature{Name: name, Value: p.Vector.Values[i]}
	}
	if !p.UpdatedAt.IsZero() {
		out.UpdatedAt = timestamppb.New(p.UpdatedAt)
	}
	return out
}

// CustomerToProto maps a customer record to the proto (nil stays nil).
func CustomerToProto(c *features.Customer) *kairosv1.Customer {
	if c == nil {
		return nil
	}
	return &kairosv1.Customer{
		CustomerId: c.ID,
		Email:      c.Email,
		Phone:      c.Phone,
		PushToken:  c.PushToken,
		Timezone:   c.Timezone,
		Consents:   maps.Clone(c.Consents),
		Attributes: maps.Clone(c.Attributes),
	}
}

// EventToProto maps an event to the proto that Track takes: the inverse of
// what the server does with a request.
func EventToProto(e features.Event) *kairosv1.Event {
	pe := &kairosv1.Event{EventId: e.ID, CustomerId: e.CustomerID, Type: e.Type}
	if !e.Time.IsZero() {
		pe.Timestamp = timestamppb.New(e.Time)
	}
	if len(e.Properties) > 0 {
		pe.Properties = make(map[string]*structpb.Value, len(e.Properties))
	}
	for k, v := range e.Properties {
		switch v.Kind {
		case features.KindString:
			pe.Properties[k] = structpb.NewStringValue(v.Str)
		case features.KindNumber:
			pe.Properties[k] = structpb.NewNumberValue(v.Num)
		case features.KindBool:
			pe.Properties[k] = structpb.NewBoolValue(v.Bool)
		}
	}
	return pe
}

// customerFromProto maps a proto customer to the domain. The maps are
// copied: the store may keep them beyond the request.
func customerFromProto(pc *kairosv1.Customer) features.Customer {
	c := features.Customer{
		ID:        pc.GetCustomerId(),
		Email:     pc.GetEmail(),
		Phone:     pc.GetPhone(),
		PushToken: pc.GetPushToken(),
		Timezone:  pc.GetTimezone(),
	}
	if len(pc.GetConsents()) > 0 {
		c.Consents = maps.Clone(pc.GetConsents())
	}
	if len(pc.GetAttributes()) > 0 {
		c.Attributes = maps.Clone(pc.GetAttributes())
	}
	return c
}
