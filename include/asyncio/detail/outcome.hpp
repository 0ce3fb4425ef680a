// Storage for "a value, an exception, or nothing yet", used by promises and task states.
// A tagged union rather than std::variant: setting and taking the result of every awaited
// coroutine goes through here, and the variant's generic visitation cost ~10% of a child await.
#pragma once

#include <exception>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace asyncio::detail {

struct Unit {};

template <class T>
struct Stored {
  using type = T;
  static T&& get(type& v) { return std::move(v); }
  static const T& peek(const type& v) { return v; }
};
template <class T>
struct Stored<T&> {
  using type = T*;
  static T& get(type& v) { return *v; }
  static T& peek(const type& v) { return *v; }
};
template <>
struct Stored<void> {
  using type = Unit;
  static void get(type&) {}
  static void peek(const type&) {}
};

template <class T>
class Outcome {
 public:
  using stored_type = typename Stored<T>::type;

  Outcome() noexcept {}
  Outcome(Outcome&& o) noexcept(std::is_nothrow_move_constructible_v<stored_type>) {
    if (o.st_ == St::Value) {
      ::new (static_cast<void*>(std::addressof(val_))) stored_type(std::move(o.val_));
    } else if (o.st_ == St::Exception) {
      ::new (static_cast<void*>(std::addressof(exc_))) std::exception_ptr(std::move(o.exc_));
    }
    st_ = o.st_;
  }
  Outcome(const Outcome&) = delete;
  Outcome& operator=(const Outcome&) = delete;
  ~Outcome() { reset(); }

  bool empty() const noexcept { return st_ == St::Empty; }
  bool has_value() const noexcept { return st_ == St::Value; }
  bool has_exception() const noexcept { return st_ == St::Exception; }

  template <class... U>
  void set_value(U&&... u) {
    reset();
    if constexpr (std::is_void_v<T>) {
      ::new (static_cast<void*>(std::addressof(val_))) stored_type{};
    } else if constexpr (std::is_reference_v<T>) {
      ::new (static_cast<void*>(std::addressof(val_))) stored_type(std::addressof(u)...);
    } else {
      ::new (static_cast<void*>(std::addressof(val_))) stored_type(std::forward<U>(u)...);
    }
    st_ = St::Value;
  }
  void set_exception(std::exception_ptr e) noexcept {
    reset();
    ::new (static_cast<void*>(std::addressof(exc_))) std::exception_ptr(std::move(e));
    st_ = St::Exception;
  }
  /// The stored exception; a null one when there is none.
  const std::exception_ptr& exception() const noexcept {
    static const std::exception_ptr none;
    return st_ == St::Exception ? exc_ : none;
  }

  /// Moves the value out (or rethrows). For references returns the reference.
  decltype(auto) take() {
    if (st_ == St::Exception) std::rethrow_exception(exc_);
    return Stored<T>::get(val_);
  }
  /// The value without moving it (or rethrows).
  decltype(auto) peek() const {
    if (st_ == St::Exception) std::rethrow_exception(exc_);
    return Stored<T>::peek(val_);
  }
  stored_type& stored() { return val_; }

 private:
  enum class St : unsigned char { Empty, Value, Exception };
  void reset() noexcept {
    if (st_ == St::Value)
      val_.~stored_type();
    else if (st_ == St::Exception)
      exc_.~exception_ptr();
    st_ = St::Empty;
  }
  union {
    stored_type val_;
    std::exception_ptr exc_;
  };
  St st_ = St::Empty;
};

}  // namespace asyncio::detail
