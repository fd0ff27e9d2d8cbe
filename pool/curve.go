package pool

import "crypto/tls"

// preferControlCurve makes data connections offer, in their first
// ClientHello, a key share for the key exchange the control connection's
// handshake settled on. Go offers X25519MLKEM768 and X25519 shares; a
// server that takes neither (vsftpd allows P-256 only) answers with a
// HelloRetryRequest, which cost every data connection, so every transfer,
// one more round trip. The data connections go to the same server, which
// just agreed to that exchange.
//
// data is changed once, during the control connection's handshake, before
// any data connection uses it: the control connection is not handed out
// before its login is done.
func preferControlCurve(ctrl, data *tls.Config) {
	if ctrl == nil || data == nil {
		return
	}
	verify := ctrl.VerifyConnection
	ctrl.VerifyConnection = func(cs tls.ConnectionState) error {
		if verify != nil {
			if err := verify(cs); err != nil {
				return err
			}
		}
		if cs.CurveID != 0 && data.CurvePreferences == nil {
			data.CurvePreferences = []tls.CurveID{cs.CurveID}
		}
		return nil
	}
}
