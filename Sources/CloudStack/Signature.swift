import Crypto
import Foundation

/// How CloudStack signs an API request, as its `ApiServer.verifyRequest` checks it
/// (apache/cloudstack `server/src/main/java/com/cloud/api/ApiServer.java`):
///
/// 1. every parameter but `signature`, sorted by name;
/// 2. each as `name=value`, the value encoded as Java's `URLEncoder.encode(value, "UTF-8")`
///    (letters, digits and `.-*_` kept, every other UTF-8 byte `%XX`) with `+` (a space)
///    replaced by `%20`, joined with `&`;
/// 3. the whole string lower-cased;
/// 4. HMAC-SHA1 of it keyed with the user's secret key, in base64.
///
/// With `signatureversion=3` the request also carries `expires`, a time in
/// `yyyy-MM-dd'T'HH:mm:ssZ` (`DateUtil.parseTZDateString`), after which the server refuses it.
public enum CloudStackSignature {
    /// `value` encoded as Java's `URLEncoder.encode(value, "UTF-8").replaceAll("\\+", "%20")`.
    public static func encode(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "*"), UInt8(ascii: "_"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0x0F, radix: 16, uppercase: true)
            }
        }
        return out
    }

    /// The string CloudStack signs: sorted `name=encoded-value` pairs joined with `&`,
    /// lower-cased (any `signature` parameter left out).
    public static func stringToSign(_ parameters: [String: String]) -> String {
        parameters.filter { $0.key.lowercased() != "signature" }
            .sorted { Array($0.key.utf16).lexicographicallyPrecedes(Array($1.key.utf16)) }  // Java's String order
            .map { "\($0.key)=\(encode($0.value))" }
            .joined(separator: "&")
            .lowercased()
    }

    /// The base64 HMAC-SHA1 signature of `parameters` with `secret`.
    public static func signature(_ parameters: [String: String], secret: String) -> String {
        let key = SymmetricKey(data: Data(secret.utf8))
        let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Data(stringToSign(parameters).utf8), using: key)
        return Data(mac).base64EncodedString()
    }

    /// `expires` for a request valid until `date`: `2026-12-03T15:04:05+0000`.
    public static func expires(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ssZ"
        return formatter.string(from: date)
    }

    /// The query string of a signed request: `parameters` with `signature` added, each value
    /// encoded as it was signed (so that the server decodes exactly what was signed).
    public static func signedQuery(_ parameters: [String: String], secret: String) -> String {
        let signature = signature(parameters, secret: secret)
        return parameters.sorted { $0.key < $1.key }.map { "\(encode($0.key))=\(encode($0.value))" }.joined(separator: "&")
            + "&signature=" + encode(signature)
    }
}
