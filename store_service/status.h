// The result of a store operation: ok, or an error code from the wire schema
// with a one-line message. Errors are values: nothing in store_service throws
// across an interface.
#pragma once

#include <string>
#include <utility>

#include "es/v1/store.pb.h"

namespace es::store {

class [[nodiscard]] Status {
 public:
  // An ok status.
  Status() = default;
  Status(es::v1::ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == es::v1::ERROR_CODE_UNSPECIFIED; }
  es::v1::ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "OK", or e.g. "ERROR_CODE_STORAGE_FULL: database or disk is full".
  std::string ToString() const {
    if (ok()) return "OK";
    return es::v1::ErrorCode_Name(code_) + ": " + message_;
  }

 private:
  es::v1::ErrorCode code_ = es::v1::ERROR_CODE_UNSPECIFIED;
  std::string message_;
};

}  // namespace es::store
