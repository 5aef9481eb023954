# Certificates for the test API server, made with openssl (sourced by tools/k8s/start and
# by tests that need a CA of their own). ECDSA P-256 throughout: quick to generate, and
# accepted by kube-apiserver for serving, client and service-account keys.

# pki_ca DIR NAME CN: a self-signed CA, DIR/NAME.crt and DIR/NAME.key.
pki_ca() {
        openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
                -keyout "$1/$2.key" -out "$1/$2.crt" -days 3650 -subj "/CN=$3" \
                -addext basicConstraints=critical,CA:TRUE \
                -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}

# pki_cert DIR NAME CA SUBJECT EXTENDED-USAGE [SAN]: DIR/NAME.crt signed by DIR/CA.
pki_cert() {
        local d=$1 name=$2 ca=$3 subject=$4 usage=$5 san=${6:-}
        local ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=$usage"
        [ -z "$san" ] || ext="$ext
subjectAltName=$san"
        openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
                -keyout "$d/$name.key" -out "$d/$name.csr" -subj "$subject" 2>/dev/null
        openssl x509 -req -in "$d/$name.csr" -CA "$d/$ca.crt" -CAkey "$d/$ca.key" \
                -CAcreateserial -out "$d/$name.crt" -days 3650 \
                -extfile <(printf '%s\n' "$ext") 2>/dev/null
        rm -f "$d/$name.csr"
}

# pki_make_all DIR: the serving CA and certificate (127.0.0.1, localhost), the client CA
# with the admin (group system:masters) and daemon (CN=srvlab-attachment) certificates,
# and the service-account signing key pair.
pki_make_all() {
        local d=$1
        pki_ca "$d" server-ca srvlab-test-server-ca
        pki_cert "$d" server server-ca /CN=kube-apiserver serverAuth \
                IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc
        pki_ca "$d" client-ca srvlab-test-client-ca
        pki_cert "$d" admin client-ca "/O=system:masters/CN=srvlab-test-admin" clientAuth
        pki_cert "$d" daemon client-ca /CN=srvlab-attachment clientAuth
        openssl ecparam -name prime256v1 -genkey -noout -out "$d/sa.key.ec"
        openssl pkcs8 -topk8 -nocrypt -in "$d/sa.key.ec" -out "$d/sa.key"
        openssl ec -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
        rm -f "$d/sa.key.ec"
        chmod 600 "$d"/*.key
}
