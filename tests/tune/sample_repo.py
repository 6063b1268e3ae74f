"""A small git repository to tune on: Python modules that use each other's APIs, plus files a
tune must never learn from (a secret, a binary, vendored code, an ignored and an untracked
file)."""

from __future__ import annotations

import subprocess
from pathlib import Path

MODULES = {
    "shop/money.py": '''"""Amounts of money in cents."""


class Money:
    def __init__(self, cents: int, currency: str = "EUR") -> None:
        self.cents = cents
        self.currency = currency

    def add(self, other: "Money") -> "Money":
        return Money(self.cents + other.cents, self.currency)

    def times(self, factor: int) -> "Money":
        return Money(self.cents * factor, self.currency)


def zero(currency: str = "EUR") -> Money:
    return Money(0, currency)
''',
    "shop/cart.py": '''"""A shopping cart."""

from shop.money import Money, zero
from shop.catalog import price_of


class Cart:
    def __init__(self) -> None:
        self.lines: dict[str, int] = {}

    def put(self, sku: str, count: int = 1) -> None:
        self.lines[sku] = self.lines.get(sku, 0) + count

    def total(self) -> Money:
        total = zero()
        for sku, count in self.lines.items():
            total = total.add(price_of(sku).times(count))
        return total
''',
    "shop/catalog.py": '''"""Prices by SKU."""

from shop.money import Money

PRICES = {"apple": 120, "pear": 95, "fig": 310}


def price_of(sku: str) -> Money:
    return Money(PRICES[sku])


def cheapest() -> str:
    return min(PRICES, key=PRICES.get)
''',
    "shop/receipt.py": '''"""Printing a receipt."""

from shop.cart import Cart
from shop.catalog import price_of


def lines_of(cart: Cart) -> list[str]:
    out = []
    for sku, count in sorted(cart.lines.items()):
        amount = price_of(sku).times(count)
        out.append(f"{sku:10} {count:3} {amount.cents / 100:8.2f}")
    out.append(f"{'total':10}     {cart.total().cents / 100:8.2f}")
    return out
''',
    "shop/discounts.py": '''"""Discounts."""

from shop.money import Money
from shop.cart import Cart


def ten_percent(cart: Cart) -> Money:
    total = cart.total()
    return Money(total.cents - total.cents // 10, total.currency)


def bulk(cart: Cart, threshold: int = 10) -> Money:
    count = sum(cart.lines.values())
    total = cart.total()
    return total.times(1) if count < threshold else Money(total.cents * 9 // 10)
''',
    "tests/test_cart.py": """from shop.cart import Cart
from shop.receipt import lines_of


def test_total() -> None:
    cart = Cart()
    cart.put("apple", 2)
    cart.put("fig")
    assert cart.total().cents == 550
    assert lines_of(cart)[-1].endswith("5.50")
""",
}

SECRET = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1234567890abcdef\n"
    "-----END RSA PRIVATE KEY-----\n"
)
NOT_LEARNED = ("vendor/lib.py", "keys/server.pem", ".env", "logo.png", "scratch.py", "build_out.py")


def make_repo(root: Path) -> Path:
    """Write and commit the sample repository at ``root``."""
    for rel, text in MODULES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "vendor").mkdir()
    (root / "vendor/lib.py").write_text("def vendored_helper(x):\n    return x * 2\n")
    (root / "keys").mkdir()
    (root / "keys/server.pem").write_text(SECRET)
    (root / ".env").write_text("API_TOKEN=abc123def456ghi789jkl012mno345\n")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    (root / ".gitignore").write_text("build_out.py\n")
    (root / "build_out.py").write_text("def generated_thing():\n    return 1\n")
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@e"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A", "-f", "."], check=True)
    subprocess.run([*git, "reset", "-q", "build_out.py"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "shop"], check=True)
    # Written after the commit: in the work tree, not tracked.
    (root / "scratch.py").write_text("from shop.money import Money\nx = Money(1)\n")
    return root
