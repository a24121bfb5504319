#include "leantrain/train/plan.h"

namespace leantrain::train {

const char* plan_kind_name(PlanKind kind) {
  switch (kind) {
    case PlanKind::kKeepAll:
      return "keep all";
    case PlanKind::kBf16Storage:
      return "bf16 storage";
    case PlanKind::kRemat:
      return "rematerialization";
    case PlanKind::kBf16StorageRemat:
      return "bf16 storage + rematerialization";
    case PlanKind::kMicroBatching:
      return "micro-batching";
  }
  return "?";
}

bool recomputes(PlanKind kind) {
  return kind == PlanKind::kRemat || kind == PlanKind::kBf16StorageRemat;
}

std::string PlanExplanation::to_string() const {
  std::string out;
  for (const std::string& line : summary) out += line + "\n";
  return out + remat_report;
}

}  // namespace leantrain::train
