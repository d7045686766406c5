package features

import (
	"fmt"
	"net/mail"
	"time"
	"unicode/utf8"
)

// Limits on a customer record.
const (
	MaxAttributes  = 64
	MaxConsents    = 32
	maxContactLen  = 320
	maxPushToken   = 4096
	maxTimezoneLen = 64
)

// Customer is the contact record of one customer.
type Customer struct {
	ID         string            `json:"id"`
	Email      string            `json:"email,omitempty"`
	Phone      string            `json:"phone,omitempty"`
	PushToken  string            `json:"push_token,omitempty"`
	Timezone   string            `json:"timezone,omitempty"`
	Consents   map[string]bool   `json:"consents,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

// ValidateCustomer checks a customer record and reports the first rule broken.
func ValidateCustomer(c *Customer) *FieldError {
	if err := ValidateCustomerID("customer.customer_id", c.ID); err != nil {
		return err
	}
	if c.Email != "" {
		if len(c.Email) > maxContactLen {
			return &FieldError{"customer.email", fmt.Sprintf("must be at most %d bytes", maxContactLen)}
		}
		a, err := mail.ParseAddress(c.Email)
		if err != nil || a.Address != c.Email {
			return &FieldError{"customer.email", "must be a bare address such as ada@example.com"}
		}
	}
	if c.Phone != "" && !IsE164(c.Phone) {
		return &FieldError{"customer.phone", "must be E.164: '+' then 8 to 15 digits, e.g. +14155550123"}
	}
	if len(c.PushToken) > maxPushToken {
		return &FieldError{"customer.push_token", fmt.Sprintf("must be at most %d bytes", maxPushToken)}
	}
	if c.Timezone != "" {
		if len(c.Timezone) > maxTimezoneLen {
			return &FieldError{"customer.timezone", "must be an IANA time zone name such as Europe/Berlin"}
		}
		if _, err := time.LoadLocation(c.Timezone); err != nil || c.Timezone == "Local" {
			return &FieldError{"customer.timezone", fmt.Sprintf("unknown time zone %q: use an IANA name such as Europe/Berlin", c.Timezone)}
		}
	}
	if len(c.Consents) > MaxConsents {
		return &FieldError{"customer.consents", fmt.Sprintf("must have at most %d entries", MaxConsents)}
	}
	for k := range c.Consents {
		if k == "" || len(k) > MaxPropertyKeyBytes || !utf8.ValidString(k) {
			return &FieldError{"customer.consents", fmt.Sprintf("keys must be 1-%d bytes of UTF-8", MaxPropertyKeyBytes)}
		}
	}
	if len(c.Attributes) > MaxAttributes {
		return &FieldError{"customer.attributes", fmt.Sprintf("must have at most %d entries", MaxAttributes)}
	}
	for k, v := range c.Attributes {
		if k == "" || len(k) > MaxPropertyKeyBytes || !utf8.ValidString(k) {
			return &FieldError{"customer.attributes", fmt.Sprintf("keys must be 1-%d bytes of UTF-8", MaxPropertyKeyBytes)}
		}
		if len(v) > MaxStringBytes || !utf8.ValidString(v) {
			return &FieldError{"customer.attributes." + k, fmt.Sprintf("must be at most %d bytes of UTF-8", MaxStringBytes)}
		}
	}
	return nil
}

// IsE164 reports whether s is an E.164 phone number: '+' then 8 to 15
// digits, the first not 0 — the one phone-number rule of Kairos (customer
// records, SMS senders and recipients).
func IsE164(s string) bool {
	if len(s) < 9 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
