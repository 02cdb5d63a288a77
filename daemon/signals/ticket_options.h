#pragma once

#include <cstdint>
#include <vector>

#include "prodops/v1/events.pb.h"

namespace prodops::signals {

// Per-priority targets of one SLA clock, from CREATED. An unspecified
// priority uses `normal_ms`.
struct SlaTargets {
  int64_t low_ms = 0;
  int64_t normal_ms = 0;
  int64_t high_ms = 0;
  int64_t urgent_ms = 0;

  int64_t For(prodops::v1::TicketEvent::Priority priority) const;
};

// A created ticket of `type` with priority >= `min_priority` (UNSPECIFIED:
// any) is reactive work.
struct ReactiveRule {
  prodops::v1::TicketEvent::Type type = prodops::v1::TicketEvent::TYPE_UNSPECIFIED;
  prodops::v1::TicketEvent::Priority min_priority =
      prodops::v1::TicketEvent::PRIORITY_UNSPECIFIED;
};

// Options of the ticket signals (TicketSignals), from
// DaemonConfig.signals.tickets and windows.allowed_lateness_seconds; see
// config.proto for their meaning.
struct TicketOptions {
  // Default: 24 h, 8 h, 4 h, 1 h.
  SlaTargets first_reply_sla = {86'400'000, 28'800'000, 14'400'000, 3'600'000};
  // Default: 7 d, 3 d, 1 d, 4 h.
  SlaTargets resolution_sla = {604'800'000, 259'200'000, 86'400'000, 14'400'000};
  // Default: every INCIDENT, and BUG from HIGH up.
  std::vector<ReactiveRule> reactive = {
      {prodops::v1::TicketEvent::INCIDENT, prodops::v1::TicketEvent::PRIORITY_UNSPECIFIED},
      {prodops::v1::TicketEvent::BUG, prodops::v1::TicketEvent::HIGH}};
  // Default: 168.
  int spike_baseline_hours = 168;
  // Default: 1.0.
  double spike_mad_floor = 1.0;
  // Default: 3.5.
  double spike_threshold = 3.5;
  // Default: 4 days.
  int64_t closed_ticket_expiry_ms = 345'600'000;
  // Events newer than (pipeline time - this) may still arrive out of order;
  // order-dependent counters wait until their events are older.
  // Default: 1 h (windows.allowed_lateness_seconds).
  int64_t allowed_lateness_ms = 3'600'000;

  bool IsReactive(prodops::v1::TicketEvent::Type type,
                  prodops::v1::TicketEvent::Priority priority) const;
};

}  // namespace prodops::signals
