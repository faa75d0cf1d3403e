// Byte runs held in packet buffers the TCP engine does not know the type of: received payload
// (a view into the mbuf it arrived in) and data waiting to be sent or acknowledged (the
// application's buffers, or buffers the engine copied its bytes into).
//
// Problem: zero-copy receive means queuing the packet buffer itself until the application has
// consumed its bytes; retransmission means keeping sent data until it is acknowledged; and the
// engine must run in unit tests without DPDK. Alternatives: template the engine on the buffer
// type (rte_mbuf or a test buffer: every file a header, slow builds), or copy payload into
// engine-owned rings (a copy per byte each way). Choice: a Chunk names its buffer only through
// an opaque `owner`, released through the host's Env (tcp_env.hpp); the queues link Chunk nodes
// taken from a per-core pool, so queuing a segment allocates nothing but a node from a free list.
#pragma once

#include <cassert>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "stack/net/tcp_seq.hpp"

namespace redline::tcp {

struct Chunk {
  void* owner = nullptr;  // what Env::release frees (an rte_mbuf in redline, a test buffer in tests)
  uint8_t* data = nullptr;
  uint32_t len = 0;       // bytes of payload at data
  uint32_t room = 0;      // bytes writable at data + len (buffers the engine fills itself)
};

struct ChunkNode {
  Chunk c;
  net::TcpSeq seq;  // the sequence number of c.data[0] (out-of-order queue only)
  ChunkNode* next = nullptr;
};

// Nodes for every queue of one core: allocated in blocks as needed up to `limit`, then reused
// from a free list. Not thread-safe: one per worker.
class ChunkPool {
 public:
  explicit ChunkPool(size_t limit) : limit_(limit) {}
  ChunkNode* get() {
    if (!free_) {
      if (made_ >= limit_) return nullptr;
      const size_t n = std::min<size_t>(kBlock, limit_ - made_);
      blocks_.push_back(std::make_unique<ChunkNode[]>(n));
      for (size_t i = 0; i < n; ++i) put(&blocks_.back()[i]);
      made_ += n;
    }
    ChunkNode* n = free_;
    free_ = n->next;
    n->next = nullptr;
    return n;
  }
  void put(ChunkNode* n) {
    n->next = free_;
    free_ = n;
  }

 private:
  static constexpr size_t kBlock = 4096;
  size_t limit_;
  size_t made_ = 0;
  ChunkNode* free_ = nullptr;
  std::vector<std::unique_ptr<ChunkNode[]>> blocks_;
};

// A FIFO of chunks with its byte count: the receive queue (in-order bytes the application has
// not consumed) and the send queue (bytes from SND.UNA on).
class ChunkQueue {
 public:
  bool empty() const { return head_ == nullptr; }
  uint32_t bytes() const { return bytes_; }
  uint32_t count() const { return count_; }
  ChunkNode* head() const { return head_; }
  ChunkNode* tail() const { return tail_; }
  void push(ChunkNode* n) {
    n->next = nullptr;
    if (tail_) tail_->next = n; else head_ = n;
    tail_ = n;
    bytes_ += n->c.len;
    ++count_;
  }
  ChunkNode* pop() {
    ChunkNode* n = head_;
    head_ = n->next;
    if (!head_) tail_ = nullptr;
    bytes_ -= n->c.len;
    --count_;
    return n;
  }
  // Bytes appended to the tail chunk in place (its room shrinks).
  void grew(uint32_t n) { bytes_ += n; }
  // Bytes dropped from the front of the head chunk in place.
  void shrank(uint32_t n) { bytes_ -= n; }

 private:
  ChunkNode* head_ = nullptr;
  ChunkNode* tail_ = nullptr;
  uint32_t bytes_ = 0;
  uint32_t count_ = 0;
};

}  // namespace redline::tcp
