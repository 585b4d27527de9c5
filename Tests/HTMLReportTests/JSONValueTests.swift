import Report
import Testing

/// The JSON writer, byte for byte: reports are compared across versions and read by other
/// programs, so escapes, indentation and element-by-element arrays must come out exactly so.
struct JSONValueTests {
    @Test func stringsAreEscapedAsRFC8259SaysAndTheRestPassesThrough() {
        let value = JSONValue.array([
            .string("plain 198.51.100.10:2049"),
            .string("quote \" backslash \\ slash /"),
            .string("new\nline\rreturn\ttab \u{01} del \u{7F}"),
            .string("line sep \u{2028} para sep \u{2029}"),
            .string("café ü 🦆 → ok"),
        ])
        let expected: String =
            #"["plain 198.51.100.10:2049","quote \" backslash \\ slash /","new\nline\rreturn\ttab \u0001 del \u007f","#
            + #""line sep \u2028 para sep \u2029","café ü 🦆 → ok"]"#
        #expect(value.serialized(pretty: false) == expected)
    }

    @Test func prettyOutputIndentsTwoSpacesPerLevel() {
        let value = JSONValue.object([
            ("a", .int(1)), ("b", .array([])), ("c", .object([])), ("d", .array([.bool(true), .null, .number(0.5)])),
            ("e", .object([("f", .string("g"))])),
        ])
        let expected: String =
            "{\n  \"a\": 1,\n  \"b\": [],\n  \"c\": {},\n  \"d\": [\n    true,\n    null,\n    0.5\n  ],\n"
            + "  \"e\": {\n    \"f\": \"g\"\n  }\n}"
        #expect(value.serialized() == expected)
    }

    @Test func elementsMadeOneByOneWriteAsTheArrayWould() {
        let items = (0..<5).map { "item \($0) \"q\"" }
        let lazy = JSONValue.lazyArray(items) { .object([("name", .string($0))]) }
        let eager = JSONValue.array(items.map { .object([("name", .string($0))]) })
        #expect(lazy.serialized() == eager.serialized())
        #expect(lazy.serialized(pretty: false) == eager.serialized(pretty: false))
        #expect(JSONValue.lazyArray([Int]()) { .int($0) }.serialized() == "[]")
    }

    @Test func aLargeDocumentGrowsItsBufferWithoutLosingBytes() {
        let big = String(repeating: "x", count: 100_000)
        let value = JSONValue.lazyArray(Array(0..<50)) { .string("\($0):" + big) }
        let text = value.serialized(pretty: false)
        // Each element: its number, a colon, the 100,000 x's, two quotes; commas between; brackets.
        let digits: Int = (0..<50).map { String($0).count }.reduce(0, +)
        let expected: Int = 2 + 49 + 50 * (1 + 100_000 + 2) + digits
        #expect(text.utf8.count == expected)
        #expect(text.hasPrefix("[\"0:xxx") && text.hasSuffix("xxx\"]"))
    }
}
