// Package sim is a seeded, deterministic synthetic customer world with
// ground truth: customers with latent traits live through lifecycle stages
// and emit the standard events of Kairos, campaigns reach them at decision
// points, and the true effect of every campaign arm is known exactly, so
// that measurement (incrementality reports, off-policy evaluation) can be
// checked against it. `kairos simulate` drives it.
//
// It owns the model and its parameters (DefaultParams), the generator and
// the ground truth. It imports only features and internal/progress: it must
// not import gRPC, Redis, pgx or the training archive (the command connects
// it to those through a Sink).
//
// # Determinism
//
// Every random number comes from a PCG seeded by (Seed, stream, key): per
// customer for traits, per customer and day for behaviour, per customer and
// episode for potential outcomes, and (Seed, decision id) for the
// Randomized policy. Customers are simulated in parallel; each day's events
// are merged by (Time, CustomerID, ID). The same Config gives the same
// events, customers and truth, byte for byte, whatever GOMAXPROCS.
//
// # Customers
//
// A customer has an engagement e (mean sessions per day when active;
// log-normal, median 0.5) whose segment is low (e < 0.3, about 27%), mid or
// high (e >= 0.9, about 25%); a price sensitivity; an upgrade intent; two
// preferred product categories; a preferred channel (messages on it engage
// 1.3× more); a platform; one of twelve IANA time zones with its country; an
// email address (97%), phone (70%), push token (80% on apps, 20% on the web)
// and consents (email 85%, push 80%, sms 50%, in-app always). Customer ids
// are "c000123"; 15% of the customers sign up during the period (a
// subscription_started on plan free), the others exist at its start with a
// random age, lifecycle stage and plan, so that day one is not empty.
//
// Stages: onboarding (the first 14 days) → active ⇄ at risk → churned. A
// customer falls at risk with probability 0.02/(1+e) a day while
// onboarding, 0.008/(1+e) while active, and recovers with 0.05·e/(1+e).
// The daily churn hazard is 0.3% onboarding, 0.05% active and 1% at risk
// (so it rises as activity falls: sessions at risk are 0.15× those when
// active), three times that while a payment failure is unresolved.
// Paid plans (plus €9.99, premium €19.99) are charged every 30 days; a
// charge fails with probability 3% + 7%·price sensitivity and is retried
// twice, three days apart, each retry failing with 60%; the third failure
// cancels the subscription (subscription_cancelled, reason
// payment_failed). A churned customer's last event is subscription_cancelled
// (reason voluntary or payment_failed); nothing follows it.
//
// # Events
//
// Sessions per day are Poisson(e × stage factor × 1.15 at weekends),
// starting at local hours that follow a daily rhythm (little at night,
// peaks at midday and 18–22h). A session is session_start, a login (45%),
// 1 + Poisson(1.8) page views (home, product with product_id and category,
// category, search, account, blog, and pricing with probability 2% + 10% ×
// upgrade intent), a scroll after 30% of them, Poisson(0.7) clicks,
// Poisson(0.6) feature_used (feature), and with probability 12% an
// add_to_cart (amount, currency EUR), bought in the session with
// probability 55% − 30%·price sensitivity and otherwise abandoned. After a
// pricing view, a customer on free or plus upgrades in the session with
// probability 3% (subscription_started with plan and plan_price). Every
// Tuesday the newsletter (campaign "newsletter") goes to customers with
// email consent. Message events carry channel, campaign, offer and, for
// campaign messages, decision_id. Event ids are "s7-c000123-000045": seed,
// customer, and the customer's event sequence number.
//
// # Campaigns and their true effects
//
// A decision point is only made when its reward window fits in the period
// and the customer has no other decision's window open (one campaign at a
// time); otherwise the episode plays out without a message. An episode's
// potential outcomes under every arm are drawn before the arm is known, from
// (Seed, customer, episode) — common random numbers — and a message never
// changes the customer's own behaviour within the window: it adds
// message_delivered, engagement (email_opened/email_clicked, push_clicked,
// sms_replied, inapp_interaction), perhaps an unsubscribe (the channel's
// consent is revoked; the record is sent again), and it moves the episode's
// return (only the newsletter stops after an email unsubscribe): the
// abandoned cart bought (a purchase), the upgrade, or, for
// winback, a session opened from the message (session_start with channel
// and campaign). A return happens when a shared uniform draw falls below
// its probability under the arm, so an arm that raises the probability
// converts exactly the customers it is credited with, and one that lowers
// it loses exactly those. Lifts apply only to delivered messages: the
// channel needs contact details and consent (and no earlier unsubscribe).
//
// cart_recovery — an add_to_cart not bought in its session; the decision
// point is 60 minutes later. Reward: a purchase within 72 hours, valued at
// its amount. Probability that the cart is bought within the window:
//
//	arm                low        mid        high       unsubscribe   cost
//	none (baseline)    8%         14%        20%        -             0
//	email/reminder     +3 pp      +5 pp      +6 pp      0.5%          €0.001
//	push/reminder      0 (null)   +3 pp      +5 pp      0.3%          €0.0002
//	email/discount_10  +6 pp×k    +8 pp×k    +10 pp×k   0.5%          €0.001 + 10% of the order
//	sms/reminder       −2 pp      +4 pp      +5 pp      8% / 1% / 1%  €0.04
//
// where k = 0.5 + price sensitivity (1 on average). SMS to low-engagement
// customers is the harmful arm: it loses conversions and 8% of them
// unsubscribe (vs 0.5% for email).
//
// winback — the customer falls at risk (again every 21 days at risk).
// Reward: a session_start or login within 7 days (no value). The message
// brings the customer back with the probability below (without it they
// come back only on their own), and multiplies their churn hazard for the
// 30 days after the window:
//
//	arm                return low/mid/high    hazard × low/mid/high   unsubscribe   cost
//	email/discount_10  6% / 10% / 14%         0.85 / 0.7 / 0.6        0.5%          €0.001 (no order)
//	push/reminder      0 (null) / 5% / 8%     1 / 0.9 / 0.85          0.3%          €0.0002
//	sms/reminder       0 / 6% / 8%            1.25 (harm) / 0.9 / 0.9 8% / 1% / 1%  €0.04
//	none               -                      1                       -             0
//
// upgrade_prompt — a pricing page view with another in the 24 hours before
// it, on plan free or plus (at most one episode a week); the decision point
// is 5 minutes later. Reward: a subscription_started within 7 days, valued
// at its plan_price:
//
//	arm                  low        mid        high       cost
//	none (baseline)      2%         4%         6%         0
//	email/upgrade_offer  0 (null)   +2 pp      +3 pp      €0.001 + 50% of the first month
//	inapp/upgrade_offer  +1 pp      +4 pp      +7 pp      50% of the first month
//
// The effects a report measures are these lifts diluted by delivery (about
// 82% of emails, 35% of SMS reach the customer) and by conversions that
// happen anyway (other purchases, organic sessions and upgrades). Truth
// holds them exactly for the sample: per campaign, arm and segment, the
// mean outcome under none and under the arm over all the campaign's
// decision points, whatever arm each was assigned. The outcomes are
// converted (a conversion event in the window), revenue (the value of the
// first) and unsubscribed (an unsubscribe answering the decision's own
// message, i.e. carrying its decision_id; newsletter unsubscribes do not
// count, so its baseline is 0).
package sim
