/** TLS clients for the listener tests: mqtt.js, a bare TLS client, HTTPS, and what certificate a server presents. */

import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { request } from 'node:https'
import { type TLSSocket, connect as tlsConnect } from 'node:tls'
import mqtt from 'mqtt'
import type { Pem } from './certs.js'
import { connectPacket } from './mqtt.js'

/** mqtt.js over TLS, trusting the test CA, with a client certificate when given. */
export function connectMqtts(port: number, ca: string, client?: Pem, allowRetries = true) {
  return mqtt.connectAsync(
    `mqtts://localhost:${port}`,
    {
      ca: readFileSync(ca),
      ...(client === undefined ? {} : { cert: readFileSync(client.cert), key: readFileSync(client.key) }),
      clientId: `tls-${Math.random()}`,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
    },
    allowRetries,
  )
}

/**
 * A CONNECT over a bare TLS connection: 'CONNACK' when the broker answers,
 * else the code of the error the connection ended with (the server's alert:
 * in TLS 1.3 the server checks the client's certificate after the client
 * thinks the handshake done).
 */
export function mqttOverTls(port: number, ca: string, client?: Pem): Promise<string> {
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      servername: 'localhost',
      port,
      ca: readFileSync(ca),
      ...(client === undefined ? {} : { cert: readFileSync(client.cert), key: readFileSync(client.key) }),
    })
    const done = (outcome: string): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(outcome)
    }
    const timer = setTimeout(() => done('no answer in 10 s'), 10_000)
    socket.once('secureConnect', () => socket.write(connectPacket(`tls-${Math.random()}`)))
    socket.once('data', (data: Buffer) => done(data[0] === 0x20 ? 'CONNACK' : `packet ${data[0]}`))
    socket.once('error', (err: Error & { code?: string }) => done(err.code ?? err.message))
    socket.once('close', () => done('closed'))
  })
}

/** GET over HTTPS, trusting `ca`: the status, body, and the certificate the server presented. */
export function httpsGet(port: number, path: string, ca: string) {
  return new Promise<{ status: number; body: string; serial: string }>((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', servername: 'localhost', port, path, ca: readFileSync(ca), agent: false },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => {
          body += d
        })
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body,
            serial: (res.socket as TLSSocket).getPeerCertificate().serialNumber,
          }),
        )
      },
    )
    req.on('error', reject)
    req.end()
  })
}

/** The serial number of the certificate a TLS server presents to a new connection. */
export function servedSerial(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect(
      { host: '127.0.0.1', servername: 'localhost', port, ca: readFileSync(ca) },
      () => {
        resolve(socket.getPeerCertificate().serialNumber)
        socket.destroy()
      },
    )
    socket.on('error', reject)
  })
}

/** The serial number of a certificate file. */
export const serialOf = (cert: string): string => new X509Certificate(readFileSync(cert)).serialNumber
