// Batched ReadIndex rounds; see read_index.h.
#include "raft/read_index.h"

#include <utility>

namespace quorum::raft {

void ReadIndexQueue::Add(std::string ctx, uint64_t from, uint64_t index) {
  requests_.push_back(Request{std::move(ctx), from, index, 0});
}

std::string ReadIndexQueue::StartRound(uint64_t self) {
  const uint64_t round = ++last_round_;
  for (auto it = requests_.rbegin(); it != requests_.rend() && it->round == 0; ++it) {
    it->round = round;
  }
  acks_[round].insert(self);
  return EncodeRound(round);
}

const std::set<uint64_t>* ReadIndexQueue::Ack(const std::string& context, uint64_t from) {
  std::optional<uint64_t> round = DecodeRound(context);
  if (!round) return nullptr;
  auto it = acks_.find(*round);
  if (it == acks_.end()) return nullptr;
  it->second.insert(from);
  return &it->second;
}

std::vector<ReadIndexQueue::Request> ReadIndexQueue::Release(const std::string& context) {
  std::vector<Request> out;
  std::optional<uint64_t> round = DecodeRound(context);
  if (!round) return out;
  // A majority acknowledging round r proves we were leader after every
  // request of rounds <= r arrived, so all of them can be answered.
  while (!requests_.empty() && requests_.front().round != 0 && requests_.front().round <= *round) {
    out.push_back(std::move(requests_.front()));
    requests_.pop_front();
  }
  acks_.erase(acks_.begin(), acks_.upper_bound(*round));
  return out;
}

std::string ReadIndexQueue::PendingRound() const {
  return acks_.empty() ? std::string() : EncodeRound(acks_.rbegin()->first);
}

void ReadIndexQueue::Reset() {
  requests_.clear();
  acks_.clear();
}

std::string ReadIndexQueue::EncodeRound(uint64_t round) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i) {
    s[i] = static_cast<char>(round & 0xff);
    round >>= 8;
  }
  return s;
}

std::optional<uint64_t> ReadIndexQueue::DecodeRound(const std::string& context) {
  if (context.size() != 8) return std::nullopt;
  uint64_t round = 0;
  for (char c : context) round = (round << 8) | static_cast<unsigned char>(c);
  return round;
}

}  // namespace quorum::raft
